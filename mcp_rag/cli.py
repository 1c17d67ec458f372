"""The `mcp-rag` command: a thin door over the service, like REST and MCP."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mcp_rag.config import Settings, load_settings
from mcp_rag.errors import ConfigError, McpRagError
from mcp_rag.models import ConversationIn, SearchRequest

app = typer.Typer(
    help="Conversation memory for AI assistants.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
conversations_app = typer.Typer(help="List, show and delete stored conversations.", no_args_is_help=True)
db_app = typer.Typer(help="Database status.", no_args_is_help=True)
app.add_typer(conversations_app, name="conversations")
app.add_typer(db_app, name="db")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
_overrides: dict[str, Any] = {}

# Exit codes: 1 = some records or requests failed, 2 = bad settings or usage, 3 = unavailable.
EXIT_FAILED, EXIT_CONFIG, EXIT_UNAVAILABLE = 1, 2, 3


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
) -> None:
    """Serve REST (/v1), MCP (/mcp) and the web UI (/) in one process."""
    import uvicorn

    from mcp_rag.api.app import create_app

    settings = load_settings(**_overrides, host=host, port=port)
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    err.print(f"mcp-rag serving on http://{settings.host}:{settings.port}", highlight=False)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level.lower())


def _read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(location, raw record) for every conversation in a JSON or JSON Lines file."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if path.suffix == ".jsonl" or (stripped.startswith("{") and "\n{" in stripped and not _is_json(stripped)):
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield f"{path}:{lineno}", json.loads(line)
                except json.JSONDecodeError as exc:
                    yield f"{path}:{lineno}", exc
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield f"{path}:{exc.lineno}", exc
        return
    if isinstance(data, list):
        for i, record in enumerate(data):
            yield f"{path}[{i}]", record
    else:
        yield str(path), data


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except json.JSONDecodeError:
        return False


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


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100)] = 10,
    conversation: Annotated[str | None, typer.Option(help="Only this conversation (id)")] = None,
    author: Annotated[str | None, typer.Option()] = None,
    role: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str | None, typer.Option()] = None,
    since: Annotated[datetime | None, typer.Option(help="ISO date/time")] = None,
    until: Annotated[datetime | None, typer.Option(help="ISO date/time")] = None,
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
        )
    except ValidationError as exc:
        raise _fail(_explain(exc), EXIT_CONFIG) from None
    result = _service().search(req, namespace)
    if as_json:
        out.print_json(result.model_dump_json())
        return
    if not result.hits:
        out.print("no hits")
    for rank, hit in enumerate(result.hits, start=1):
        title = hit.title or hit.conversation_external_id
        out.print(
            f"[bold]{rank}. {title}[/bold]  messages {', '.join(hit.message_ids)}  "
            f"{_when(hit.started_at)}  score {hit.score:.4f}",
            highlight=False,
        )
        out.print(hit.text, highlight=False, markup=False)
        out.print()
    err.print(f"{len(result.hits)} hits in {result.took_ms:.0f} ms", highlight=False)


@conversations_app.command("list")
def conversations_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor from the previous page")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    namespace: Annotated[str, typer.Option()] = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List conversations, newest first."""
    page = _service().list_conversations(namespace, limit, cursor, source)
    if as_json:
        out.print_json(page.model_dump_json())
        return
    table = Table("id", "external id", "title", "source", "messages", "started")
    table.columns[0].no_wrap = True
    for c in page.items:
        table.add_row(
            str(c.id), c.external_id, c.title or "", c.source or "", str(c.message_count), _when(c.started_at)
        )
    out.print(table)
    if page.next_cursor:
        err.print(f"more: --cursor {page.next_cursor}", highlight=False)


@conversations_app.command("show")
def conversations_show(
    conversation: Annotated[str, typer.Argument(help="Conversation id (ours or yours)")],
    offset: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 200,
    namespace: Annotated[str, typer.Option()] = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a conversation's transcript."""
    t = _service().get_conversation(conversation, namespace, offset, limit)
    if as_json:
        out.print_json(t.model_dump_json())
        return
    out.print(f"[bold]{t.title or t.external_id}[/bold]  ({t.message_count} messages, id {t.id})", highlight=False)
    for m in t.messages:
        out.print(f"[{m.id}] {_when(m.timestamp)} {m.author or m.role or ''}: ", end="", highlight=False)
        out.print(m.content, markup=False, highlight=False)


@conversations_app.command("delete")
def conversations_delete(
    conversation: Annotated[str, typer.Argument(help="Conversation id (ours or yours)")],
    namespace: Annotated[str, typer.Option()] = "default",
) -> None:
    """Delete a conversation with its messages and chunks."""
    cid = _service().delete_conversation(conversation, namespace)
    out.print(f"deleted {cid}")


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


@app.command()
def reindex() -> None:
    """Re-embed every chunk with the configured embedding model."""
    service = _service()
    with Progress(TextColumn("re-embedding"), BarColumn(), MofNCompleteColumn(), console=err) as progress:
        task = progress.add_task("reindex", total=None)
        n = service.reindex(lambda done, total: progress.update(task, completed=done, total=total))
    out.print(f"re-embedded {n} chunks with {service.embedder.name}")


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
