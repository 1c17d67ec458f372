"""What every command shares: the Typer app and its groups, the consoles, exit codes, and opening
the settings and the service."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from mcp_rag import validation
from mcp_rag.config import Settings, load_settings

if TYPE_CHECKING:
    from mcp_rag.service import Service

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


def print_table(table: Any) -> None:
    # Piped or captured, rich assumes 80 columns and cuts ids to "exte…": the ids a user needs
    # for `show` and `delete`. Off a terminal the table gets the width its contents need.
    (out if out.is_terminal else Console(width=1000)).print(table)


# Exit codes: 1 = some records or requests failed, 2 = bad settings or usage, 3 = unavailable.
EXIT_FAILED, EXIT_CONFIG, EXIT_UNAVAILABLE, EXIT_NOT_FOUND = 1, 2, 3, 4


def current_settings(**overrides: Any) -> Settings:
    """The settings with the global options applied (and any of the command's own)."""
    return load_settings(**_overrides, **overrides)


def open_service() -> Service:
    # Imported here, not at the top: `mcp-rag mcp` loads every command module, and the
    # service stack (SQLAlchemy, the model runtime) must not slow its handshake.
    from mcp_rag.service import Service

    return Service(current_settings())


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
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


def explain(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return validation.describe(exc, limit=1)
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg})"
    return str(exc)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""
