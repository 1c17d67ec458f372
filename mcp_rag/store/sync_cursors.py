"""SQL for sync cursors (table sync_cursors, migration 0004)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection


def get(conn: Connection, namespace: str, source: str, key: str) -> str | None:
    return conn.execute(
        text("SELECT cursor FROM sync_cursors WHERE namespace = :ns AND source = :source AND key = :key"),
        {"ns": namespace, "source": source, "key": key},
    ).scalar_one_or_none()


def put(conn: Connection, namespace: str, source: str, key: str, cursor: str) -> None:
    conn.execute(text("INSERT INTO namespaces (name) VALUES (:ns) ON CONFLICT DO NOTHING"), {"ns": namespace})
    conn.execute(
        text(
            """
            INSERT INTO sync_cursors (namespace, source, key, cursor) VALUES (:ns, :source, :key, :cursor)
            ON CONFLICT (namespace, source, key) DO UPDATE SET cursor = excluded.cursor, updated_at = now()
            """
        ),
        {"ns": namespace, "source": source, "key": key, "cursor": cursor},
    )
