"""Maintenance mode: the app's writes are held while run-migrations.sh owns the database.

The migration script takes the PostgreSQL advisory lock KEY exclusively, on a
session of its own, before its backup, and holds it until the database is
migrated or restored. Every write transaction of the app takes the same lock
shared, without waiting (pg_try_advisory_xact_lock_shared), before its first
write statement, and holds it until it commits. So:

- the script's lock waits for the writes already under way, which therefore
  commit before the backup and are in it;
- a write that starts while the script holds the lock is refused with
  Unavailable (HTTP 503 + Retry-After), never acknowledged and then lost to a
  restore;
- reads never take the lock and are served throughout.

The lock lives in the server's lock table, not in a table: a restore cannot
drop it, and a script that dies releases it with its session.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from mcp_rag.errors import Unavailable

# Shared with deployment/scripts/migrations/run-migrations.sh (MAINTENANCE_LOCK_KEY).
KEY = 1835233394
# A statement's execution option that lets it through (a token's last-used time:
# nothing a caller was promised, and refusing it would refuse every authenticated read).
EXEMPT = "maintenance_exempt"
RETRY_SECONDS = 5

_HELD = "mcp_rag_maintenance_held"
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|CREATE|ALTER|DROP|COPY|VACUUM|REINDEX|CLUSTER)\b", re.I)
_CTE_WRITE = re.compile(r"^\s*WITH\b.*\b(INSERT|UPDATE|DELETE|MERGE)\b", re.I | re.S)


class InMaintenance(Unavailable):
    """A write refused while the database is being migrated."""


def is_write(statement: str) -> bool:
    return bool(_WRITE.match(statement) or _CTE_WRITE.match(statement))


def install(engine: Engine) -> None:
    """Hold every write transaction on `engine` to the maintenance lock."""
    event.listen(engine, "before_cursor_execute", _guard)
    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)  # also when a Connection closes with its transaction open


def _guard(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    if conn.info.get(_HELD) or not is_write(statement):
        return
    if context is not None and context.execution_options.get(EXEMPT):
        return
    check = cursor.connection.cursor()
    try:
        check.execute("SELECT pg_try_advisory_xact_lock_shared(%s)", (KEY,))
        (free,) = check.fetchone()
    finally:
        check.close()
    if not free:
        raise InMaintenance(f"the database is being migrated; writes are held, retry in {RETRY_SECONDS} s")
    conn.info[_HELD] = True


def _release(conn: Connection) -> None:
    # An invalidated connection (the database went away) must not be touched here:
    # reading its `info` would try to reconnect inside the failed transaction. Its
    # DBAPI connection, and the flag with it, is discarded anyway.
    if not conn.invalidated:
        conn.info.pop(_HELD, None)
