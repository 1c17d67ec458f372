"""SQL for whole-database upkeep (backup and restore). Always parameterised."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection


def conversation_count(conn: Connection) -> int:
    """Conversations stored; 0 for a database not migrated yet."""
    if not conn.execute(text("SELECT to_regclass('conversations') IS NOT NULL")).scalar():
        return 0
    return conn.execute(text("SELECT count(*) FROM conversations")).scalar_one()


# Other processes (running servers) hold pooled connections whose prepared statements
# name the old tables' and types' oids; they reconnect (pool_pre_ping) after a restore.
_DISCONNECT_OTHERS = """DO $$ DECLARE p int; BEGIN
  FOR p IN SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() LOOP
    BEGIN PERFORM pg_terminate_backend(p); EXCEPTION WHEN OTHERS THEN NULL; END;
  END LOOP;
END $$"""

# Run by psql in the restore's single transaction, before the archive's own SQL.
# pg_restore --clean would keep objects the archive does not know; dropping the
# schema in the same transaction as the restore leaves exactly the archive.
RESTORE_PREAMBLE = (
    "SET lock_timeout = '60s'",
    "SET client_min_messages = warning",
    _DISCONNECT_OTHERS,
    "DROP SCHEMA IF EXISTS public CASCADE",
    "CREATE SCHEMA public AUTHORIZATION pg_database_owner",
    "GRANT USAGE ON SCHEMA public TO PUBLIC",
)
