"""Slack live sync over the Web API (slack_sdk): `mcp-rag sync slack --channel C...`.

Per channel: read the stored cursor (the newest `ts` already stored), fetch
newer messages with conversations.history, and store them oldest first in
batches of one UTC day: the day's messages outside threads, then each thread
started that day with its replies (conversations.replies). The messages are
turned into conversations by the same code as the export importer
(importers/slack.py), so ids match and an export plus a live sync never
duplicate each other.

The cursor moves only after every conversation of a batch is committed: a
failure part-way through a batch (Slack down, database down) leaves the cursor
where it was, the next run fetches the batch again, and since ingest only
appends unseen message ids nothing is stored twice.

Known limit: a reply posted to a thread whose parent is older than the cursor
is fetched only if Slack also lists it in the channel (a broadcast reply).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from mcp_rag.errors import ConfigError, Forbidden, McpRagError, NotFound, Unavailable
from mcp_rag.importers.report import FileImport, RecordError
from mcp_rag.importers.run import Meter, Progress, Recorder
from mcp_rag.importers.slack import Channel, People, conversations, thread_of, ts_time
from mcp_rag.store import sync_cursors

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from mcp_rag.config import Settings
    from mcp_rag.importers.run import Ingest
    from mcp_rag.store.db import Database

log = logging.getLogger(__name__)
SOURCE = "slack"
PAGE = 200
REFUSED = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope", "not_allowed_token_type"}
MISSING = {"channel_not_found", "not_in_channel", "thread_not_found", "user_not_found"}


class SyncResult(BaseModel):
    channel: str = Field(description="The channel id")
    name: str | None = Field(None, description="The channel's name, once Slack told us")
    conversations: int = 0
    messages_added: int = 0
    batches: int = Field(0, description="Days committed (the cursor moved after each)")
    cursor: str | None = Field(None, description="Newest Slack ts stored for this channel")
    errors: list[RecordError] = Field(default_factory=list, description="Messages skipped, and why")
    failed: str | None = Field(None, description="Why the sync of this channel stopped early")


def client(settings: Settings) -> WebClient:
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    if settings.slack_bot_token is None:
        raise ConfigError("invalid setting SLACK_BOT_TOKEN: not set (a bot token, xoxb-..., with history scopes)")
    web = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url, timeout=30)
    web.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))  # honours Retry-After
    return web


def sync(
    database: Database,
    ingest: Ingest,
    settings: Settings,
    channels: list[str],
    namespace: str,
    keep_noise: bool = False,
) -> list[SyncResult]:
    """Each channel's new messages since its cursor, stored with `ingest`; the cursors are kept
    in `database` (its transactions turn a dead database into Unavailable)."""
    api = _Api(client(settings))
    results = []
    for channel in channels:
        result = SyncResult(channel=channel)
        try:
            _sync_channel(database, ingest, api, result, namespace, keep_noise)
        except McpRagError as exc:
            result.failed = f"{exc.title}: {exc}"
        results.append(result)
    return results


def _sync_channel(
    database: Database, ingest: Ingest, api: _Api, result: SyncResult, namespace: str, keep_noise: bool
) -> None:
    with database.transaction() as conn:
        result.cursor = sync_cursors.get(conn, namespace, SOURCE, result.channel)
    info = api.call("conversations_info", channel=result.channel).get("channel") or {}
    channel = Channel(result.channel, info.get("name") or result.channel)
    result.name = channel.name
    people = People(lookup=api.user)
    report = FileImport(name=f"#{channel.name}", format=SOURCE)
    recorder = Recorder(ingest, namespace, report, Meter(), Progress(0, 0), None)
    top = sorted(api.history(result.channel, result.cursor), key=lambda m: float(m["ts"]))
    for _, day in itertools.groupby(top, key=lambda m: f"{ts_time(m['ts']):%Y-%m-%d}"):
        batch = list(day)
        parents = [m["ts"] for m in batch if thread_of(m) == m["ts"]]
        loose = [m for m in batch if thread_of(m) != m["ts"]]
        recorder.consume(conversations(channel, _located(channel, loose), people, keep_noise))
        for ts in parents:
            replies = api.replies(result.channel, ts)
            recorder.consume(conversations(channel, _located(channel, replies), people, keep_noise))
        # Every conversation of the batch is committed (or reported as a bad record): now the cursor may move.
        with database.transaction() as conn:
            sync_cursors.put(conn, namespace, SOURCE, result.channel, batch[-1]["ts"])
        result.cursor = batch[-1]["ts"]
        result.batches += 1
    result.conversations, result.messages_added = report.conversations, report.messages_added
    result.errors = report.errors


def _located(channel: Channel, messages: list[dict]) -> Iterator[tuple[str, Any]]:
    return ((f"slack:{channel.id}/{m.get('ts')}", m) for m in messages)


class _Api:
    """slack_sdk calls with Slack's errors mapped to ours, and cursor pagination."""

    def __init__(self, web: WebClient):
        self.web = web

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        from slack_sdk.errors import SlackApiError, SlackClientError

        try:
            return getattr(self.web, method)(**params).data
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            name = method.replace("_", ".")
            if error in REFUSED:
                raise Forbidden(f"Slack refused {name}: {error}") from None
            if error in MISSING:
                raise NotFound(f"Slack {name}: {error} ({params.get('channel')})") from None
            raise Unavailable(f"Slack {name} failed: {error or exc.response.status_code}") from None
        except (SlackClientError, OSError) as exc:
            raise Unavailable(f"Slack unreachable: {exc.__class__.__name__}") from None

    def pages(self, method: str, **params: Any) -> Iterator[dict[str, Any]]:
        cursor = None
        while True:
            data = self.call(method, **params, limit=PAGE, **({"cursor": cursor} if cursor else {}))
            yield from data.get("messages") or []
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def history(self, channel: str, after: str | None) -> list[dict[str, Any]]:
        params = {"channel": channel, **({"oldest": after} if after else {})}
        return [m for m in self.pages("conversations_history", **params) if ts_time(m.get("ts")) is not None]

    def replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        return list(self.pages("conversations_replies", channel=channel, ts=ts))

    def user(self, user_id: str) -> dict | None:
        try:
            return self.call("users_info", user=user_id).get("user")
        except NotFound:
            return None
