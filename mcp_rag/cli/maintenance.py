"""Upkeep: `migrate`, `db status|compact`, `reindex`, `backup` and `restore`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mcp_rag.cli.common import app, current_settings, db_app, err, open_service, out


@app.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision")] = "head",
    downgrade: Annotated[str | None, typer.Option(help="Downgrade to this revision instead")] = None,
) -> None:
    """Apply (or revert) database migrations."""
    from mcp_rag.store import db

    url = db.database_url(current_settings())
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
    status = open_service().status()
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
    done = open_service().compact(
        memory,
        starting=lambda: err.print(
            "rewriting chunks, chunk_terms and chunk_bits and rebuilding their indexes; searches and writes wait"
        ),
    )
    mb = 2**20
    out.print(
        f"compacted in {done['seconds']} s (maintenance_work_mem {done['maintenance_work_mem']}): "
        f"{done['bytes_before'] / mb:.1f} MB → {done['bytes_after'] / mb:.1f} MB",
        highlight=False,
    )


@app.command()
def reindex(
    windows: Annotated[
        bool,
        typer.Option(
            "--windows", help="Only rewrite the window arm's windows from the stored chunks (no re-embedding)"
        ),
    ] = False,
) -> None:
    """Re-embed every chunk with the configured embedding model (and rewrite the window arm's windows)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    service = open_service()
    if windows:
        out.print(f"wrote {service.rebuild_windows()} windows")
        return
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

    info = backups.backup(open_service(), path, force)
    out.print(f"backed up {info.conversations} conversations to {info.path} ({info.bytes} bytes)", highlight=False)


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="Archive written by `mcp-rag backup`")],
    force: Annotated[bool, typer.Option("--force", help="Replace a database that holds conversations")] = False,
) -> None:
    """Replace the database with a backup (all or nothing)."""
    from mcp_rag import backup as backups

    info = backups.restore(open_service(), path, force)
    out.print(f"restored {info.conversations} conversations from {info.path}", highlight=False)
