"""`mcp-rag sync slack`: live sync over the Slack Web API.

Slack cannot be reached from here, so these tests run a local HTTP server
that speaks the Slack Web API wire format as slack_sdk uses it: POST
/api/<method> with a form-encoded body and `Authorization: Bearer xoxb-...`,
answered with Slack's JSON envelopes ({"ok": true, ...} / {"ok": false,
"error": ...}) and cursor pagination in `response_metadata.next_cursor`,
for conversations.info, conversations.history (newest first, `oldest`
exclusive), conversations.replies and users.info. Everything on our side is
real: slack_sdk's WebClient, the service, PostgreSQL and the embedder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from mcp_rag.errors import ConfigError
from mcp_rag.service import Service

TOKEN = "xoxb-test-token"
CHANNEL = "C01GENERAL"
USERS = {
    "U01KATE": {"id": "U01KATE", "name": "kate", "real_name": "Kate Moss", "profile": {"real_name": "Kate Moss"}},
    "U02EMI": {"id": "U02EMI", "name": "emi", "profile": {"real_name": "Emi Tanaka", "display_name": "emi"}},
}


def msg(ts: str, user: str, text: str, **extra) -> dict:
    return {"type": "message", "ts": ts, "user": user, "text": text, **extra}


# Three UTC days of #general: loose messages and two threads.
DAY1 = [
    msg("1709542800.000100", "U01KATE", "Offsite booked: Lisbon in May", thread_ts="1709542800.000100", reply_count=1),
    msg("1709546400.000200", "U02EMI", "Coffee machine on 3 is fixed"),
]
DAY2 = [
    msg("1709629200.000300", "U02EMI", "Who owns the <@U01KATE> travel budget?"),
    msg(
        "1709632800.000400", "U01KATE", "Flight options are in the sheet", thread_ts="1709632800.000400", reply_count=1
    ),
]
DAY3 = [msg("1709719200.000500", "U02EMI", "Reminder: passports")]
REPLIES = {
    "1709542800.000100": [msg("1709543000.000110", "U02EMI", "Do we need passports?", thread_ts="1709542800.000100")],
    "1709632800.000400": [msg("1709633000.000410", "U02EMI", "Window seat please", thread_ts="1709632800.000400")],
}


class FakeSlack:
    """Channel state and the requests seen; `fail_replies` makes conversations.replies fail for a thread."""

    def __init__(self) -> None:
        self.history = DAY1 + DAY2 + DAY3
        self.fail_replies: set[str] = set()
        self.calls: list[tuple[str, dict]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, params: dict) -> dict:
        self.calls.append((method, params))
        if method == "conversations.info":
            return {"ok": True, "channel": {"id": CHANNEL, "name": "general", "is_channel": True}}
        if method == "users.info":
            user = USERS.get(params.get("user"))
            return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
        if method == "conversations.history":
            oldest = float(params.get("oldest", 0))
            newer = sorted((m for m in self.history if float(m["ts"]) > oldest), key=lambda m: -float(m["ts"]))
            return self.page(newer, params, "messages")
        if method == "conversations.replies":
            ts = params["ts"]
            if ts in self.fail_replies:
                return {"ok": False, "error": "internal_error"}
            parent = next(m for m in self.history if m["ts"] == ts)
            return self.page([parent, *REPLIES.get(ts, [])], params, "messages")
        return {"ok": False, "error": "unknown_method"}

    @staticmethod
    def page(items: list, params: dict, key: str, size: int = 2) -> dict:
        """Slack's cursor pagination, with small pages so that paging is exercised."""
        start = int(params.get("cursor") or 0)
        chunk = items[start : start + size]
        more = start + size < len(items)
        return {
            "ok": True,
            key: chunk,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + size) if more else ""},
        }

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                params = {k: v[0] for k, v in parse_qs(body).items()}
                if self.headers.get("authorization") != f"Bearer {TOKEN}":
                    reply = {"ok": False, "error": "invalid_auth"}
                else:
                    reply = fake.answer(self.path.removeprefix("/api/"), params)
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        return Handler


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def syncing_service(settings):
    """A second service over the same database, with a Slack token and API URL set per test."""
    svc = Service(settings.model_copy(update={"slack_bot_token": SecretStr(TOKEN)}))
    yield svc
    svc.close()


@pytest.fixture
def syncer(service, syncing_service, slack):
    syncing_service.settings = syncing_service.settings.model_copy(update={"slack_api_url": slack.url})
    return syncing_service


def stored_ids(service) -> list[str]:
    with service.engine.connect() as conn:
        return list(conn.execute(text("SELECT external_id FROM messages ORDER BY external_id")).scalars())


def cursor(service) -> str | None:
    with service.engine.connect() as conn:
        return conn.execute(text("SELECT cursor FROM sync_cursors WHERE key = :c"), {"c": CHANNEL}).scalar()


ALL_IDS = sorted(m["ts"] for m in DAY1 + DAY2 + DAY3 + [r for rs in REPLIES.values() for r in rs])


def test_sync_stores_threads_and_days_with_names_and_moves_the_cursor(syncer, slack):
    (result,) = syncer.sync_slack([CHANNEL])
    assert result.failed is None and result.errors == []
    assert (result.name, result.batches, result.messages_added) == ("general", 3, 7)
    assert stored_ids(syncer) == ALL_IDS
    assert cursor(syncer) == result.cursor == "1709719200.000500"
    thread = syncer.get_conversation(f"slack:{CHANNEL}:1709542800.000100")
    assert [(m.author, m.content) for m in thread.messages] == [
        ("Kate Moss", "Offsite booked: Lisbon in May"),
        ("Emi Tanaka", "Do we need passports?"),
    ]
    day2 = syncer.get_conversation(f"slack:{CHANNEL}:2024-03-05")
    assert day2.messages[0].content == "Who owns the @Kate Moss travel budget?"
    assert all(params.get("limit") == "200" for method, params in slack.calls if method.startswith("conversations.h"))


def test_a_second_sync_asks_only_for_newer_messages_and_appends_them(syncer, slack):
    syncer.sync_slack([CHANNEL])
    slack.history.append(msg("1709722800.000600", "U01KATE", "Passports: check expiry dates"))
    slack.calls.clear()
    (result,) = syncer.sync_slack([CHANNEL])
    history_calls = [p for m, p in slack.calls if m == "conversations.history"]
    assert history_calls[0]["oldest"] == "1709719200.000500"
    assert result.messages_added == 1 and result.cursor == "1709722800.000600"
    assert len(stored_ids(syncer)) == len(ALL_IDS) + 1


def test_failure_mid_batch_keeps_the_cursor_and_the_retry_adds_no_duplicates(syncer, slack):
    slack.fail_replies = {"1709632800.000400"}  # day 2's thread: its day's loose message is stored first
    (failed,) = syncer.sync_slack([CHANNEL])
    assert failed.failed == "Service unavailable: Slack conversations.replies failed: internal_error"
    assert failed.batches == 1 and cursor(syncer) == "1709546400.000200", "cursor stays at the end of day 1"
    assert "1709629200.000300" in stored_ids(syncer), "part of day 2 was written before the failure"

    slack.fail_replies = set()
    slack.calls.clear()
    (retry,) = syncer.sync_slack([CHANNEL])
    assert retry.failed is None and retry.batches == 2
    assert [p["oldest"] for m, p in slack.calls if m == "conversations.history"][0] == "1709546400.000200"
    assert stored_ids(syncer) == ALL_IDS, "every message exactly once"
    assert cursor(syncer) == "1709719200.000500"


def test_a_rejected_token_stops_the_channel_with_a_clear_reason(syncer, slack):
    syncer.settings = syncer.settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-wrong")})
    try:
        (result,) = syncer.sync_slack([CHANNEL])
    finally:
        syncer.settings = syncer.settings.model_copy(update={"slack_bot_token": SecretStr(TOKEN)})
    assert result.failed == "Forbidden: Slack refused conversations.info: invalid_auth"
    assert stored_ids(syncer) == [] and cursor(syncer) is None


def test_without_a_token_sync_is_a_configuration_error(service):
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        service.sync_slack([CHANNEL])


def test_cli_sync_prints_per_channel_progress_and_resumes(service, data_dir, slack):
    env = {
        **os.environ,
        "MCP_RAG_DATA_DIR": str(data_dir),
        "MCP_RAG_ENV": "test",
        "SLACK_BOT_TOKEN": TOKEN,
        "MCP_RAG_SLACK_API_URL": slack.url,
    }
    cli = [str(Path(sys.executable).with_name("mcp-rag")), "sync", "slack", "--channel", CHANNEL]
    first = subprocess.run(cli, capture_output=True, text=True, timeout=180, env=env)
    assert first.returncode == 0, first.stderr
    assert "#general (C01GENERAL): 7 messages added in 5 conversations, 3 days committed" in first.stdout
    again = subprocess.run(cli, capture_output=True, text=True, timeout=180, env=env)
    assert "0 messages added" in again.stdout and again.returncode == 0


def test_a_database_that_dies_during_a_sync_stops_the_channel_as_unavailable(settings, slack):
    """The sync's own transactions (its cursors) go through the store's error mapping, so a
    dead database is "unavailable" for that channel, not a driver error escaping the sync."""
    unreachable = settings.model_copy(
        update={
            "slack_bot_token": SecretStr(TOKEN),
            "slack_api_url": slack.url,
            "database_url": "postgresql://nobody@127.0.0.1:9/gone",  # nothing listens on port 9
            "auto_migrate": False,  # the engine is built as if the database had been up until now
        }
    )
    dead = Service(unreachable)
    try:
        (result,) = dead.sync_slack([CHANNEL])
    finally:
        dead.close()
    assert result.failed == "Service unavailable: database unreachable"
