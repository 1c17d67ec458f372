"""SQL for conversations and messages. Always parameterised."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict, cast
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import Connection

from mcp_rag.chunking import Turn
from mcp_rag.models import ConversationSummary


class MessageRow(TypedDict):
    """A stored message, `id` being the caller's message id."""

    id: str
    seq: int
    author: str | None
    role: str | None
    content: str
    timestamp: datetime | None
    metadata: dict[str, Any]


_SUMMARY_COLUMNS = """
    id, external_id, namespace, title, source, url, participants, metadata,
    started_at, ended_at, message_count, created_at, updated_at
"""


def lock_conversation(conn: Connection, namespace: str, external_id: str) -> None:
    """Serialise concurrent writers of one conversation until the transaction ends."""
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"{namespace}\x1f{external_id}"},
    )


def find_id(conn: Connection, namespace: str, ref: str) -> UUID | None:
    """A conversation by our uuid or by the caller's external id."""
    try:
        as_uuid = UUID(ref)
    except ValueError:
        as_uuid = None
    row = conn.execute(
        text(
            "SELECT id FROM conversations WHERE namespace = :ns AND "
            "(external_id = :ref OR id = :uuid) ORDER BY (external_id = :ref) DESC LIMIT 1"
        ),
        {"ns": namespace, "ref": ref, "uuid": as_uuid},
    ).first()
    return row[0] if row else None


def summary(conn: Connection, conversation_id: UUID) -> ConversationSummary:
    """The conversation with this id, which must exist (callers found it in the same transaction)."""
    row = (
        conn.execute(
            text(f"SELECT {_SUMMARY_COLUMNS} FROM conversations WHERE id = :id"),
            {"id": conversation_id},
        )
        .mappings()
        .one()
    )
    return ConversationSummary.model_validate(dict(row))


def existing_message_ids(conn: Connection, conversation_id: UUID) -> set[str]:
    rows = conn.execute(
        text("SELECT external_id FROM messages WHERE conversation_id = :id"),
        {"id": conversation_id},
    )
    return {r[0] for r in rows}


def last_seq(conn: Connection, conversation_id: UUID) -> int:
    return conn.execute(
        text("SELECT coalesce(max(seq), 0) FROM messages WHERE conversation_id = :id"),
        {"id": conversation_id},
    ).scalar_one()


def insert_conversation(conn: Connection, namespace: str, external_id: str, values: dict) -> UUID:
    conn.execute(text("INSERT INTO namespaces (name) VALUES (:ns) ON CONFLICT DO NOTHING"), {"ns": namespace})
    return conn.execute(
        text(
            """
            INSERT INTO conversations (namespace, external_id, title, source, url, metadata)
            VALUES (:ns, :ext, :title, :source, :url, CAST(:metadata AS jsonb))
            RETURNING id
            """
        ),
        {
            "ns": namespace,
            "ext": external_id,
            "title": values.get("title"),
            "source": values.get("source"),
            "url": values.get("url"),
            "metadata": json.dumps(values.get("metadata") or {}),
        },
    ).scalar_one()


def insert_messages(conn: Connection, conversation_id: UUID, turns: Sequence[Turn], metadata: Sequence[dict]) -> None:
    conn.execute(
        text(
            """
            INSERT INTO messages (conversation_id, seq, external_id, author, role, content,
                                  "timestamp", metadata)
            VALUES (:cid, :seq, :ext, :author, :role, :content, :ts, CAST(:metadata AS jsonb))
            """
        ),
        [
            {
                "cid": conversation_id,
                "seq": t.seq,
                "ext": t.external_id,
                "author": t.author,
                "role": t.role,
                "content": t.content,
                "ts": t.timestamp,
                "metadata": json.dumps(m),
            }
            for t, m in zip(turns, metadata, strict=True)
        ],
    )


def refresh_summary(conn: Connection, conversation_id: UUID, values: dict | None = None) -> None:
    """Recompute counts, time range and participants from the messages."""
    values = values or {}
    conn.execute(
        text(
            """
            UPDATE conversations c SET
                message_count = s.n, started_at = s.first_ts, ended_at = s.last_ts,
                participants = s.authors, updated_at = now(),
                title = coalesce(:title, c.title), source = coalesce(:source, c.source),
                url = coalesce(:url, c.url),
                metadata = c.metadata || CAST(:metadata AS jsonb)
            FROM (
                SELECT count(*) AS n, min("timestamp") AS first_ts, max("timestamp") AS last_ts,
                       coalesce(array_agg(DISTINCT author) FILTER (WHERE author IS NOT NULL), '{}')
                           AS authors
                FROM messages WHERE conversation_id = :id
            ) s
            WHERE c.id = :id
            """
        ),
        {
            "id": conversation_id,
            "title": values.get("title"),
            "source": values.get("source"),
            "url": values.get("url"),
            "metadata": json.dumps(values.get("metadata") or {}),
        },
    )


def turns_from(conn: Connection, conversation_id: UUID, first_seq: int) -> list[Turn]:
    rows = conn.execute(
        text(
            """
            SELECT seq, external_id, author, role, content, "timestamp"
            FROM messages WHERE conversation_id = :id AND seq >= :seq ORDER BY seq
            """
        ),
        {"id": conversation_id, "seq": first_seq},
    )
    return [Turn(*r) for r in rows]


def messages_page(conn: Connection, conversation_id: UUID, offset: int, limit: int) -> list[MessageRow]:
    rows = conn.execute(
        text(
            """
            SELECT external_id AS id, seq, author, role, content, "timestamp", metadata
            FROM messages WHERE conversation_id = :id ORDER BY seq OFFSET :offset LIMIT :limit
            """
        ),
        {"id": conversation_id, "offset": offset, "limit": limit},
    ).mappings()
    return [cast(MessageRow, dict(r)) for r in rows]


def list_page(
    conn: Connection,
    namespace: str,
    limit: int,
    after: tuple[datetime, UUID] | None,
    source: str | None,
    title_contains: str | None,
    authors: Sequence[str] | None = None,
) -> list[ConversationSummary]:
    clauses = ["namespace = :ns"]
    params: dict[str, Any] = {"ns": namespace, "limit": limit}
    if after is not None:
        clauses.append("(created_at, id) < (:after_ts, :after_id)")
        params.update(after_ts=after[0], after_id=after[1])
    if source:
        clauses.append("source = :source")
        params["source"] = source
    if authors:
        clauses.append("participants && CAST(:authors AS text[])")
        params["authors"] = list(authors)
    if title_contains:
        # The text is matched literally: LIKE's wildcards and its escape character are escaped.
        clauses.append("(title ILIKE :pattern ESCAPE '\\' OR external_id ILIKE :pattern ESCAPE '\\')")
        params["pattern"] = "%" + re.sub(r"([\\%_])", r"\\\1", title_contains) + "%"
    rows = conn.execute(
        text(
            f"SELECT {_SUMMARY_COLUMNS} FROM conversations WHERE {' AND '.join(clauses)} "
            "ORDER BY created_at DESC, id DESC LIMIT :limit"
        ),
        params,
    ).mappings()
    return [ConversationSummary.model_validate(dict(r)) for r in rows]


def turns_by_ids(conn: Connection, conversation_id: UUID, external_ids: Sequence[str]) -> list[Turn]:
    """The verbatim turns behind a hit's message ids, in conversation order."""
    rows = conn.execute(
        text(
            """
            SELECT seq, external_id, author, role, content, "timestamp"
            FROM messages WHERE conversation_id = :id AND external_id = ANY(:ids) ORDER BY seq
            """
        ),
        {"id": conversation_id, "ids": list(external_ids)},
    )
    return [Turn(*r) for r in rows]


def delete(conn: Connection, conversation_id: UUID) -> None:
    conn.execute(text("DELETE FROM conversations WHERE id = :id"), {"id": conversation_id})


def counts(conn: Connection) -> dict[str, int]:
    row = conn.execute(
        text(
            "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages), "
            "(SELECT count(*) FROM chunks)"
        )
    ).one()
    return {"conversations": row[0], "messages": row[1], "chunks": row[2]}


def participants(conn: Connection, namespace: str) -> list[str]:
    """Every author name stored in a namespace: the conversations' participants, as
    counted by triggers (migration 0012) so that no search reads them all."""
    rows = conn.execute(text("SELECT name FROM participant_counts WHERE namespace = :ns"), {"ns": namespace})
    return [r[0] for r in rows]


def sources(conn: Connection, namespace: str) -> list[str]:
    """The distinct sources of a namespace's conversations, skipping through the index on
    (namespace, source) from one to the next (migration 0012): one probe per source
    instead of a read of every conversation."""
    rows = conn.execute(
        text(
            """
            WITH RECURSIVE s(source) AS (
                (SELECT source FROM conversations WHERE namespace = :ns AND source IS NOT NULL
                 ORDER BY source LIMIT 1)
                UNION ALL
                SELECT (SELECT c.source FROM conversations c WHERE c.namespace = :ns AND c.source > s.source
                        ORDER BY c.source LIMIT 1)
                FROM s WHERE s.source IS NOT NULL
            )
            SELECT source FROM s WHERE source IS NOT NULL
            """
        ),
        {"ns": namespace},
    )
    return [r[0] for r in rows]


def recent_references(conn: Connection, namespace: str, limit: int = 500) -> list[str]:
    """The ids and titles of a namespace's latest conversations (hints for an id that matched nothing)."""
    rows = conn.execute(
        text(
            "SELECT external_id, title FROM conversations WHERE namespace = :ns ORDER BY updated_at DESC LIMIT :limit"
        ),
        {"ns": namespace, "limit": limit},
    )
    return [x for r in rows for x in r if x]


def seq_of(conn: Connection, conversation_id: UUID, external_id: str) -> int | None:
    """A message's position in its conversation, by the caller's message id."""
    return conn.execute(
        text("SELECT seq FROM messages WHERE conversation_id = :id AND external_id = :ext"),
        {"id": conversation_id, "ext": external_id},
    ).scalar()


def message_counts(conn: Connection, conversation_ids: Sequence[UUID]) -> dict[UUID, int]:
    rows = conn.execute(
        text("SELECT id, message_count FROM conversations WHERE id = ANY(:ids)"), {"ids": list(conversation_ids)}
    )
    return {r[0]: r[1] for r in rows}
