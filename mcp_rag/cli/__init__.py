"""The `mcp-rag` command: a thin door over the service, like REST and MCP.

One module per group of commands; `common` holds what they share. Every command module is
imported on the way to any command, `mcp-rag mcp` included, so their heavy imports (the service
stack, uvicorn, rich's progress bars and tables) stay inside the commands that use them.
"""

from __future__ import annotations

import logging
import sys

from mcp_rag.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_UNAVAILABLE, app, err
from mcp_rag.errors import ConfigError, McpRagError

# isort: off
# Imported for the commands they register, in the order `mcp-rag --help` lists them.
from mcp_rag.cli import serving, imports, search_ask, conversations, maintenance, tokens  # noqa: F401

# isort: on

__all__ = ["app", "main"]


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
