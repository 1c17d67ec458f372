"""The `mcp-rag` command: a thin door over the service, like REST and MCP."""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from mcp_rag.config import Settings, load_settings
from mcp_rag.errors import ConfigError, McpRagError
from mcp_rag.models import AROUND_AFTER, AROUND_BEFORE, ConversationIn, SearchRequest

app = typer.Typer(
    help="Conversation memory for AI assistants.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
conversations_app = typer.Typer(help="List, show and delete stored conversations.", no_args_is_help=True)
db_app = typer.Typer(help="Database status and upkeep.", no_args_is_help=True)
app.add_typer(conversations_app, name="conversations")
app.add_typer(db_app, name="db")
tokens_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
sync_app = typer.Typer(help="Live sync from chat services (Slack).", no_args_is_help=True)
app.add_typer(sync_app, name="sync")

TIME_OPTION = "ISO 8601 or words: yesterday, last week, in March 2024, since Monday, 2 days ago"
AUTHOR_OPTION = "Turns by this person; case and accents ignored ('kate' finds 'Kate Moreno')"
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
_overrides: dict[str, Any] = {}


def _print_table(table: Any) -> None:
    # Piped or captured, rich assumes 80 columns and cuts ids to "exte…": the ids a user needs
    # for `show` and `delete`. Off a terminal the table gets the width its contents need.
    (out if out.is_terminal else Console(width=1000)).print(table)


# Exit codes: 1 = some records or requests failed, 2 = bad settings or usage, 3 = unavailable.
EXIT_FAILED, EXIT_CONFIG, EXIT_UNAVAILABLE, EXIT_NOT_FOUND = 1, 2, 3, 4


def _settings() -> Settings:
    return load_settings(**_overrides)


def _service():
    from mcp_rag.service import Service

    return Service(_settings())


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


@app.callback()
def main_options(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where the embedded database lives (MCP_RAG_DATA_DIR)")
    ] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", help="PostgreSQL URL (DATABASE_URL)")] = None,
) -> None:
    if data_dir is not None:
        _overrides["data_dir"] = data_dir
    if database_url is not None:
        _overrides["database_url"] = database_url


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (MCP_RAG_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (MCP_RAG_PORT)")] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow serving a non-loopback address without API tokens")
    ] = False,
) -> None:
    """Serve REST (/v1), MCP (/mcp) and the web UI (/) in one process."""
    import uvicorn

    from mcp_rag import auth, logs, tracing
    from mcp_rag.api.app import LOOPBACK, create_app
    from mcp_rag.service import Service

    settings = load_settings(**_overrides, host=host, port=port, insecure=insecure or None)
    logs.configure(settings.log_level, settings.log_json)
    tracing.configure(settings.otel_endpoint)
    _check_port(settings.host, settings.port)
    service = Service(settings)
    if settings.host not in LOOPBACK:
        if not auth.tokens_exist(service):
            if not settings.insecure:
                raise _fail(
                    f"refusing to serve on {settings.host} without API tokens: create one with "
                    "`mcp-rag tokens create --namespace default --scopes read,write,admin`, "
                    "or pass --insecure to serve open",
                    EXIT_CONFIG,
                )
            err.print(f"warning: serving on {settings.host} with no API tokens (--insecure): anyone can read and write")
    err.print(f"mcp-rag serving on http://{settings.host}:{settings.port}", highlight=False)
    if settings.host in ("0.0.0.0", "::") and not settings.allowed_hosts:
        err.print("note: only loopback names are answered (421 otherwise); list the others in MCP_RAG_ALLOWED_HOSTS")
    threading.Thread(target=service.warm_up, name="warm-up", daemon=True).start()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler
    # in place before it ran: exiting normally there lets the embedded PostgreSQL
    # be stopped by its exit hook (the default handler would skip it).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    config = uvicorn.Config(
        create_app(settings, service),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )

    class Server(uvicorn.Server):
        """Tells the service when a stop signal comes, so imports in flight end at their next read
        instead of holding the shutdown."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            service.stopping.set()
            super().handle_exit(sig, frame)

    Server(config).run()


def _exit_on_sigterm(*_: Any) -> None:
    # Everything still alive is moved out of the collector's reach: the interpreter's last
    # collection over the model, tokenizer and pools took seconds, and nothing in them needs it.
    gc.freeze()
    sys.exit(0)


SHUTDOWN_GRACE_S = 5  # open streams (MCP sessions, answers) get this long; with PostgreSQL's stop, under 10 s


def _check_port(host: str, port: int) -> None:
    """Refuse a port another process listens on, before anything starts: uvicorn would find
    out only after start-up, and exit with the model still loading on its thread (an abort)."""
    try:
        socket.create_server((host, port)).close()  # SO_REUSEADDR, as uvicorn binds
    except OSError as exc:
        raise _fail(
            f"cannot serve on {host}:{port}: {os.strerror(exc.errno) if exc.errno else exc} (another mcp-rag serve?);"
            " pass --port or set MCP_RAG_PORT",
            EXIT_CONFIG,
        ) from None


@app.command("mcp")
def mcp_stdio() -> None:
    """Serve MCP over stdio, for Claude Desktop, Cursor, Codex (stdout carries protocol only)."""
    settings = _settings()
    # Clients time the handshake from process start, and the `mcp` SDK's import (some 50k
    # long-lived objects, mostly pydantic models) is most of it. The cyclic GC walking those
    # objects again and again while they are built is wasted work (4% of the import's
    # instructions, docs/PERFORMANCE.md): pause it for the import, then freeze what was
    # built so later collections skip it.
    gc.disable()
    try:
        from mcp_rag.stdio import run_stdio
    finally:
        gc.freeze()
        gc.enable()
    run_stdio(settings)


def _read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(location, raw record or why it could not be read) for every conversation in a JSON or
    JSON Lines file: the one reader of our format, shared with `import`."""
    from mcp_rag.importers.base import Meter, file_entry
    from mcp_rag.importers.jsonstream import records

    return records(file_entry(path, str(path), Meter()))


def _explain(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        return f"{where}: {e['msg']}" if where else e["msg"]
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg})"
    return str(exc)


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="JSON or JSON Lines files of conversations", exists=False)],
    namespace: Annotated[str, typer.Option(help="Namespace to store into")] = "default",
) -> None:
    """Ingest conversations from JSON / JSON Lines files (our format; see README)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    service = _service()
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}", EXIT_CONFIG)
    records: list[tuple[str, Any]] = [r for f in files for r in _read_records(f)]
    failures: list[str] = []
    added = created = 0
    started = datetime.now()
    with Progress(
        TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
    ) as progress:
        task = progress.add_task("ingest", total=len(records))
        for where, raw in records:
            try:
                if isinstance(raw, Exception):
                    raise raw
                result = service.ingest(ConversationIn.model_validate(raw), namespace)
                added += result.messages_added
                created += result.created
            except (ValidationError, json.JSONDecodeError, McpRagError) as exc:
                failures.append(f"{where}: {_explain(exc)}")
            progress.advance(task)
    seconds = (datetime.now() - started).total_seconds()
    ok = len(records) - len(failures)
    out.print(
        f"{ok} of {len(records)} conversations ingested ({created} new), {added} messages added in {seconds:.1f}s",
        highlight=False,
    )
    for failure in failures:
        err.print(f"[red]failed[/red] {failure}", highlight=False)
    if failures:
        raise typer.Exit(EXIT_FAILED)


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders or zips: Slack, ChatGPT, Claude, chats, JSON")],
    format: Annotated[
        str | None,
        typer.Option(help="Force a format: slack, chatgpt, claude, whatsapp, markdown, transcript, json, openai"),
    ] = None,
    namespace: Annotated[str, typer.Option(help="Namespace to store into")] = "default",
    keep_noise: Annotated[bool, typer.Option("--keep-noise", help="Slack: keep joins, topic changes, bots")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Import exports, detected from their content; re-running adds only what is new (see README, Importing)."""
    import time

    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    from mcp_rag.errors import Invalid

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise _fail(f"no such file or folder: {', '.join(missing)}", EXIT_CONFIG)
    service = _service()
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[messages]} messages, {task.fields[rate]} msg/s"),
        TimeRemainingColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("import", total=None, messages=0, rate="-")

        def show(p) -> None:
            elapsed = time.monotonic() - p.started
            rate = f"{p.messages / elapsed:.0f}" if elapsed > 0 else "-"
            progress.update(task, completed=p.bytes_done, total=p.bytes_total or None, messages=p.messages, rate=rate)

        try:
            result = service.import_files([(str(p), p) for p in paths], namespace, format, keep_noise, show)
        except Invalid as exc:
            raise _fail(str(exc), EXIT_CONFIG) from None
    if as_json:
        out.print_json(result.model_dump_json())
    else:
        for f in result.files:
            out.print(
                f"{f.name} ({f.format}): {f.conversations} conversations, {f.messages_added} messages added, "
                f"{f.skipped} already stored, {f.error_count} failed",
                highlight=False,
            )
            for e in f.errors:
                err.print(f"[red]failed[/red] {e.location}: {e.message}", highlight=False)
            if f.error_count > len(f.errors):
                err.print(f"... and {f.error_count - len(f.errors)} more failed in {f.name}", highlight=False)
        out.print(f"{result.messages_added} messages added, {result.errors} failed", highlight=False)
    if result.errors:
        raise typer.Exit(EXIT_FAILED)


@sync_app.command("slack")
def sync_slack(
    channel: Annotated[list[str], typer.Option("--channel", help="Channel id (C...); repeat for several")],
    namespace: Annotated[str, typer.Option(help="Namespace to store into")] = "default",
    keep_noise: Annotated[bool, typer.Option("--keep-noise", help="Keep joins, topic changes, bots")] = False,
) -> None:
    """Fetch new messages of Slack channels with the Web API (SLACK_BOT_TOKEN); resumes where the last run stopped."""
    results = _service().sync_slack(channel, namespace, keep_noise)
    for r in results:
        out.print(
            f"#{r.name or r.channel} ({r.channel}): {r.messages_added} messages added in {r.conversations} "
            f"conversations, {r.batches} days committed, cursor {r.cursor or '-'}",
            highlight=False,
        )
        for e in r.errors:
            err.print(f"[red]failed[/red] {e.location}: {e.message}", highlight=False)
        if r.failed:
            err.print(f"[red]stopped[/red] {r.channel}: {r.failed} (run again to resume)", highlight=False)
    if any(r.failed or r.errors for r in results):
        raise typer.Exit(EXIT_FAILED)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100)] = 10,
    conversation: Annotated[str | None, typer.Option(help="Only this conversation (id)")] = None,
    author: Annotated[str | None, typer.Option(help=AUTHOR_OPTION)] = None,
    role: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help=TIME_OPTION)] = None,
    until: Annotated[str | None, typer.Option(help=TIME_OPTION)] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone for times in words (default UTC)")] = None,
    namespace: Annotated[str, typer.Option()] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Hybrid search over stored conversations."""
    try:
        req = SearchRequest(
            query=query,
            top_k=top_k,
            conversation_id=conversation,
            author=author,
            role=role,
            source=source,
            since=since,
            until=until,
            timezone=timezone,
        )
    except ValidationError as exc:
        raise _fail(_explain(exc), EXIT_CONFIG) from None
    result = _service().search(req, namespace)
    if as_json:
        out.print_json(result.model_dump_json())
        return
    _print_filters(result.filters)
    if not result.hits:
        out.print("no hits")
    for rank, hit in enumerate(result.hits, start=1):
        title = hit.title or hit.conversation_external_id
        out.print(
            f"[bold]{rank}. {title}[/bold]  messages {', '.join(hit.message_ids)} "
            f"({hit.first_seq}-{hit.last_seq} of {hit.message_count})  {_when(hit.started_at)}  score {hit.score:.4f}",
            highlight=False,
        )
        out.print(hit.text, highlight=False, markup=False)
        out.print()
    err.print(f"{len(result.hits)} hits in {result.took_ms:.0f} ms", highlight=False)
    if result.hits:
        first = result.hits[0]
        err.print(
            f"context: mcp-rag conversations show {first.conversation_external_id} --around {first.message_ids[0]}",
            highlight=False,
            markup=False,
        )


def _print_filters(applied) -> None:
    """The filters as applied, so "last week" or "kate" shows what it was read as."""
    if applied is None:
        return
    parts = []
    if applied.authors:
        parts.append("author " + " or ".join(applied.authors))
    if applied.source:
        parts.append(f"source {applied.source}")
    if applied.since:
        parts.append(f"since {applied.since.isoformat()}")
    if applied.until:
        parts.append(f"until {applied.until.isoformat()}")
    err.print("filters: " + ", ".join(parts), highlight=False, markup=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=50, help="Search hits to answer from")] = 8,
    conversation: Annotated[str | None, typer.Option(help="Only this conversation (id)")] = None,
    author: Annotated[str | None, typer.Option(help=AUTHOR_OPTION)] = None,
    source: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help=TIME_OPTION)] = None,
    until: Annotated[str | None, typer.Option(help=TIME_OPTION)] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone for times in words (default UTC)")] = None,
    history: Annotated[
        Path | None, typer.Option(help='JSON file of prior turns: [{"role": "user", "content": "..."}, ...]')
    ] = None,
    namespace: Annotated[str, typer.Option()] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the full answer object as JSON")] = False,
) -> None:
    """Answer a question from stored conversations, with numbered citations (streamed).

    Exits with status 4 when the stored conversations hold no answer (`found: false`).
    """
    from mcp_rag.models import AskRequest

    try:
        turns = json.loads(history.read_text(encoding="utf-8")) if history else []
        req = AskRequest(
            question=question,
            top_k=top_k,
            conversation_id=conversation,
            author=author,
            source=source,
            since=since,
            until=until,
            timezone=timezone,
            history=turns,
        )
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise _fail(_explain(exc), EXIT_CONFIG) from None
    service = _service()
    if as_json:
        answer = service.ask(req, namespace)
        out.print_json(answer.model_dump_json())
        if not answer.found:
            raise typer.Exit(EXIT_NOT_FOUND)
        return
    with err.status("searching…"):
        events = service.ask_stream(req, namespace)
        kind, payload = next(events)
    err.print(f"{len(payload['sources'])} sources for: {payload['question']}", highlight=False)
    for kind, payload in events:
        if kind == "sources":
            err.print(f"{len(payload['sources'])} sources for: {payload['question']}", highlight=False)
        elif kind == "token":
            out.print(payload["text"], end="", markup=False, highlight=False)
        elif kind == "error":
            out.print()
            raise _fail(f"answer cut short: {payload}", EXIT_UNAVAILABLE)
        elif kind == "done":
            _print_answer_footer(payload)
            if not payload.found:
                raise typer.Exit(EXIT_NOT_FOUND)


def _print_answer_footer(answer) -> None:
    out.print()
    if answer.error:
        err.print(f"[yellow]provider failed:[/yellow] {answer.error}", highlight=False)
    label = "extractive answer (no language model)" if answer.extractive else f"{answer.provider} {answer.model}"
    err.print(f"— {label}", highlight=False)
    if not answer.found:
        err.print("not found: no stored turn is a strong match (exit status 4)", highlight=False)
    for c in answer.citations:
        where = c.title or c.conversation_external_id
        out.print(f"[{c.n}] {where} · message {', '.join(c.message_ids)} · {_when(c.timestamp)}", markup=False)
        out.print(f"    {c.quote}", markup=False, highlight=False)


@conversations_app.command("list")
def conversations_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor from the previous page")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    author: Annotated[str | None, typer.Option(help="Only conversations this person took part in")] = None,
    namespace: Annotated[str, typer.Option()] = "default",
    wide: Annotated[bool, typer.Option("--wide", help="Every column, as wide as it needs")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List conversations, newest first."""
    page = _service().list_conversations(namespace, limit, cursor, source, None, author)
    if as_json:
        out.print_json(page.model_dump_json())
        return
    from rich.table import Table

    if wide:
        table = Table("id", "external id", "title", "source", "messages", "started", "ended", "participants")
        for c in page.items:
            table.add_row(
                str(c.id),
                c.external_id,
                c.title or "",
                c.source or "",
                str(c.message_count),
                _when(c.started_at),
                _when(c.ended_at),
                ", ".join(c.participants),
            )
        Console(width=100_000).print(table)
    else:
        # 80 columns: the id `show` and `delete` take is never cut; the title gives way.
        table = Table("external id", "title", "msgs", "started", box=None, pad_edge=False)
        table.columns[0].no_wrap = True
        table.columns[0].min_width = max((len(c.external_id) for c in page.items), default=11)
        table.columns[1].no_wrap, table.columns[1].overflow = True, "ellipsis"
        table.columns[2].justify = "right"
        for c in page.items:
            table.add_row(c.external_id, c.title or "", str(c.message_count), _when(c.started_at)[:10])
        (out if out.is_terminal else Console(width=80)).print(table)
    if page.next_cursor:
        err.print(f"more: --cursor {page.next_cursor}", highlight=False)


@conversations_app.command("show")
def conversations_show(
    conversation: Annotated[str, typer.Argument(help="Conversation id (ours or yours)")],
    offset: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 200,
    around: Annotated[str | None, typer.Option(help="A message id: show the messages around it")] = None,
    before: Annotated[int, typer.Option(min=0, max=999, help="With --around: messages before it")] = AROUND_BEFORE,
    after: Annotated[int, typer.Option(min=0, max=999, help="With --around: messages after it")] = AROUND_AFTER,
    all_: Annotated[bool, typer.Option("--all", help="Every message, page after page")] = False,
    namespace: Annotated[str, typer.Option()] = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a conversation's transcript: a page of it, the turns around a message, or all of it."""
    service = _service()
    t = service.get_conversation(conversation, namespace, offset, limit, around, before, after)
    if as_json and not all_:
        out.print_json(t.model_dump_json())
        return
    pages = [t]
    if all_:
        while pages[-1].offset + len(pages[-1].messages) < pages[-1].message_count and pages[-1].messages:
            following = pages[-1].offset + len(pages[-1].messages)
            pages.append(service.get_conversation(conversation, namespace, following, 1000))
    if as_json:
        whole = t.model_copy(update={"messages": [m for p in pages for m in p.messages], "limit": t.message_count})
        out.print_json(whole.model_dump_json())
        return
    out.print(f"[bold]{t.title or t.external_id}[/bold]  ({t.message_count} messages, id {t.id})", highlight=False)
    for page in pages:
        for m in page.messages:
            out.print(
                f"[{m.id}] {_when(m.timestamp)} {m.author or m.role or ''}: ", end="", highlight=False, markup=False
            )
            out.print(m.content, markup=False, highlight=False)
    last = pages[-1]
    shown_to = last.offset + len(last.messages)
    if not all_ and (t.offset > 0 or shown_to < t.message_count):
        where = f"showed messages {t.offset + 1}-{shown_to} of {t.message_count}"
        hints = []
        if shown_to < t.message_count:
            hints.append(f"next: --offset {shown_to}")
        hints.append("everything: --all")
        err.print(f"{where}; {', '.join(hints)}", highlight=False, markup=False)


@conversations_app.command("delete")
def conversations_delete(
    conversation: Annotated[str, typer.Argument(help="Conversation id (ours or yours)")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking")] = False,
    namespace: Annotated[str, typer.Option()] = "default",
) -> None:
    """Delete a conversation with its messages and chunks (asks first, unless --yes)."""
    service = _service()
    if not yes:
        if not sys.stdin.isatty():
            raise _fail("not deleting without a terminal to confirm on; pass --yes", EXIT_CONFIG)
        t = service.get_conversation(conversation, namespace, 0, 1)
        name = t.title or t.external_id
        if not typer.confirm(f"Delete {name!r} ({t.message_count} messages)? This cannot be undone"):
            raise _fail("not deleted", EXIT_FAILED)
    cid = service.delete_conversation(conversation, namespace)
    out.print(f"deleted {cid}")


@app.command()
def remember(
    note: Annotated[str, typer.Argument(help="The note or fact to keep")],
    author: Annotated[str | None, typer.Option(help="Who said it (default: local)")] = None,
    namespace: Annotated[str, typer.Option()] = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Keep one note or fact in the namespace's notes conversation, searchable like any turn."""
    kept = _service().remember(note, namespace, author)
    if as_json:
        out.print_json(kept.model_dump_json())
        return
    out.print(f"remembered as message {kept.message_id} of {kept.conversation_external_id}", highlight=False)


@app.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
    downgrade: Annotated[str | None, typer.Option(help="Downgrade to this revision instead")] = None,
) -> None:
    """Apply (or revert) database migrations."""
    from mcp_rag.store import db

    url = db.database_url(_settings())
    if downgrade:
        db.downgrade(url, downgrade)
    else:
        db.migrate(url, revision)
    engine = db.make_engine(url, 1)
    out.print(f"schema at revision {db.current_revision(engine)}")
    engine.dispose()


@db_app.command("status")
def db_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Schema revision, counts and embedding model."""
    status = _service().status()
    if as_json:
        out.print_json(json.dumps(status))
        return
    for key, value in status.items():
        out.print(f"{key}: {value}", highlight=False)


@db_app.command("compact")
def db_compact(
    memory: Annotated[
        str | None,
        typer.Option(
            help="maintenance_work_mem for rebuilding the indexes, e.g. 2GB (default: the vector index's size + 25%)"
        ),
    ] = None,
) -> None:
    """Rewrite the chunk tables: older chunks take the current layout, deleted rows' space is freed.

    Searches and writes wait until it ends (35 s at 100k chunks here; docs/RUNBOOK.md)."""
    done = _service().compact(
        memory,
        starting=lambda: err.print(
            "rewriting chunks and chunk_terms and rebuilding their indexes; searches and writes wait meanwhile"
        ),
    )
    mb = 2**20
    out.print(
        f"compacted in {done['seconds']} s (maintenance_work_mem {done['maintenance_work_mem']}): "
        f"{done['bytes_before'] / mb:.1f} MB → {done['bytes_after'] / mb:.1f} MB",
        highlight=False,
    )


@tokens_app.command("create")
def tokens_create(
    namespace: Annotated[str, typer.Option(help="Namespace the token may see")] = "default",
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, write, admin")] = "read",
    name: Annotated[str, typer.Option(help="A label to recognise it by")] = "",
) -> None:
    """Create an API token. The secret is printed once; only its hash is stored."""
    from mcp_rag import auth

    token = auth.create_token(_service(), namespace, scopes, name)
    err.print(f"token {token.id} for namespace {token.namespace} ({','.join(token.scopes)}); store it now:")
    out.print(token.token, highlight=False)


@tokens_app.command("list")
def tokens_list(namespace: Annotated[str | None, typer.Option(help="Only this namespace")] = None) -> None:
    """List tokens (never their secrets)."""
    from rich.table import Table

    from mcp_rag import auth

    table = Table("id", "name", "namespace", "scopes", "prefix", "created", "last used", "revoked")
    table.columns[0].no_wrap = True
    for t in auth.list_tokens(_service(), namespace):
        table.add_row(
            str(t.id),
            t.name,
            t.namespace,
            ",".join(t.scopes),
            t.prefix + "…",
            _when(t.created_at),
            _when(t.last_used_at),
            _when(t.revoked_at),
        )
    _print_table(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="Token id from `tokens list`")]) -> None:
    """Revoke a token; requests using it are refused from now on."""
    from mcp_rag import auth

    t = auth.revoke_token(_service(), token_id)
    out.print(f"revoked {t.id}")


@app.command()
def reindex() -> None:
    """Re-embed every chunk with the configured embedding model."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    service = _service()
    with Progress(TextColumn("re-embedding"), BarColumn(), MofNCompleteColumn(), console=err) as progress:
        task = progress.add_task("reindex", total=None)
        n = service.reindex(lambda done, total: progress.update(task, completed=done, total=total))
    out.print(f"re-embedded {n} chunks with {service.embedder.name}")


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="Archive file to write (pg_dump custom format)")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
) -> None:
    """Back up the whole database to one file."""
    from mcp_rag import backup as backups

    info = backups.backup(_service(), path, force)
    out.print(f"backed up {info.conversations} conversations to {info.path} ({info.bytes} bytes)", highlight=False)


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="Archive written by `mcp-rag backup`")],
    force: Annotated[bool, typer.Option("--force", help="Replace a database that holds conversations")] = False,
) -> None:
    """Replace the database with a backup (all or nothing)."""
    from mcp_rag import backup as backups

    info = backups.restore(_service(), path, force)
    out.print(f"restored {info.conversations} conversations from {info.path}", highlight=False)


def main() -> None:
    """Entry point: map core errors to one line and an exit code, never a traceback."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(standalone_mode=True)
    except ConfigError as exc:
        err.print(f"mcp-rag: {exc}", highlight=False)
        sys.exit(EXIT_CONFIG)
    except McpRagError as exc:
        from mcp_rag.errors import Unavailable

        err.print(f"mcp-rag: {exc}", highlight=False)
        sys.exit(EXIT_UNAVAILABLE if isinstance(exc, Unavailable) else EXIT_FAILED)
