"""SQL for API tokens and the audit log."""

from __future__ import annotations

import json
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import Connection

_COLUMNS = "id, name, namespace, scopes, prefix, created_at, last_used_at, revoked_at"


def insert(conn: Connection, name: str, namespace: str, scopes: list[str], token_hash: str, prefix: str) -> dict:
    conn.execute(text("INSERT INTO namespaces (name) VALUES (:ns) ON CONFLICT DO NOTHING"), {"ns": namespace})
    row = (
        conn.execute(
            text(
                f"""
            INSERT INTO api_tokens (name, namespace, scopes, token_hash, prefix)
            VALUES (:name, :ns, :scopes, :hash, :prefix) RETURNING {_COLUMNS}
            """
            ),
            {"name": name, "ns": namespace, "scopes": scopes, "hash": token_hash, "prefix": prefix},
        )
        .mappings()
        .one()
    )
    return dict(row)


def by_hash(conn: Connection, token_hash: str) -> dict | None:
    row = (
        conn.execute(
            text(f"SELECT {_COLUMNS}, token_hash FROM api_tokens WHERE token_hash = :hash"), {"hash": token_hash}
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def touch(conn: Connection, token_id: UUID) -> None:
    conn.execute(
        text(
            "UPDATE api_tokens SET last_used_at = now() WHERE id = :id "
            "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')"
        ).execution_options(maintenance_exempt=True),  # store/maintenance.py
        {"id": token_id},
    )


def listing(conn: Connection, namespace: str | None) -> list[dict]:
    where = "WHERE namespace = :ns" if namespace else ""
    rows = conn.execute(
        text(f"SELECT {_COLUMNS} FROM api_tokens {where} ORDER BY created_at"), {"ns": namespace}
    ).mappings()
    return [dict(r) for r in rows]


def revoke(conn: Connection, token_id: UUID, namespace: str | None) -> dict | None:
    scope = "AND namespace = :ns" if namespace else ""
    row = (
        conn.execute(
            text(
                f"UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = :id {scope} "
                f"RETURNING {_COLUMNS}"
            ),
            {"id": token_id, "ns": namespace},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def active_count(conn: Connection) -> int:
    return conn.execute(text("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL")).scalar_one()


def audit(conn: Connection, actor: str, namespace: str, action: str, target: str | None, details: dict) -> None:
    conn.execute(
        text(
            "INSERT INTO audit_log (actor, namespace, action, target, details) "
            "VALUES (:actor, :ns, :action, :target, CAST(:details AS jsonb))"
        ),
        {"actor": actor, "ns": namespace, "action": action, "target": target, "details": json.dumps(details)},
    )


def audit_entries(conn: Connection, namespace: str, limit: int = 100) -> list[dict]:
    rows = conn.execute(
        text(
            "SELECT at, actor, namespace, action, target, details FROM audit_log "
            "WHERE namespace = :ns ORDER BY id DESC LIMIT :limit"
        ),
        {"ns": namespace, "limit": limit},
    ).mappings()
    return [dict(r) for r in rows]
