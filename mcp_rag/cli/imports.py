"""Getting conversations in: `ingest` (our JSON format), `import` (exports) and `sync slack`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from mcp_rag.cli.common import EXIT_CONFIG, EXIT_FAILED, app, err, explain, fail, open_service, out, sync_app
from mcp_rag.errors import McpRagError
from mcp_rag.models import ConversationIn

if TYPE_CHECKING:
    from mcp_rag.importers.run import Progress as ImportProgress


def _read_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(location, raw record or why it could not be read) for every conversation in a JSON or
    JSON Lines file: the one reader of our format, shared with `import`."""
    from mcp_rag.importers.base import Meter, file_entry
    from mcp_rag.importers.jsonstream import records

    return records(file_entry(path, str(path), Meter()))


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="JSON or JSON Lines files of conversations", exists=False)],
    namespace: Annotated[str, typer.Option(help="Namespace to store into")] = "default",
) -> None:
    """Ingest conversations from JSON / JSON Lines files (our format; see README)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    service = open_service()
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise fail(f"no such file: {', '.join(missing)}", EXIT_CONFIG)
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
                failures.append(f"{where}: {explain(exc)}")
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
        raise fail(f"no such file or folder: {', '.join(missing)}", EXIT_CONFIG)
    service = open_service()
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[messages]} messages, {task.fields[rate]} msg/s"),
        TimeRemainingColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("import", total=None, messages=0, rate="-")

        def show(p: ImportProgress) -> None:
            elapsed = time.monotonic() - p.started
            rate = f"{p.messages / elapsed:.0f}" if elapsed > 0 else "-"
            progress.update(task, completed=p.bytes_done, total=p.bytes_total or None, messages=p.messages, rate=rate)

        try:
            result = service.import_files([(str(p), p) for p in paths], namespace, format, keep_noise, show)
        except Invalid as exc:
            raise fail(str(exc), EXIT_CONFIG) from None
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
    results = open_service().sync_slack(channel, namespace, keep_noise)
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
