"""Reading and deleting conversations: a page of one, a page of the list, a delete."""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

from mcp_rag import lookup
from mcp_rag.errors import Invalid, NotFound
from mcp_rag.models import (
    MAX_PAGE,
    ConversationPage,
    Message,
    SearchFilters,
    Transcript,
    check_reference,
)
from mcp_rag.store import chunks as chunk_sql
from mcp_rag.store import conversations as conv_sql
from mcp_rag.store import tokens as token_sql
from mcp_rag.store.db import Database


def conversation(
    database: Database,
    reference: str,
    namespace: str,
    offset: int,
    limit: int,
    around: str | None,
    before: int,
    after: int,
) -> Transcript:
    """A page of a conversation: from `offset`, or, with `around` (a message id), that
    message with up to `before` messages ahead of it and `after` behind it."""
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"offset must be ≥ 0 and limit between 1 and {MAX_PAGE}")
    if not (0 <= before < MAX_PAGE and 0 <= after < MAX_PAGE):
        raise Invalid(f"before and after must be between 0 and {MAX_PAGE - 1}")
    with database.transaction(read_only=True) as conn:
        cid = lookup.find(conn, namespace, reference)
        if cid is None:
            raise lookup.missing(conn, namespace, reference)
        if around is not None:
            seq = conv_sql.seq_of(conn, cid, around)
            if seq is None:
                raise NotFound(f"message {around!r} not found in conversation {reference!r}")
            offset = max(0, seq - 1 - before)
            limit = min(MAX_PAGE, seq - offset + after)
        summary = conv_sql.summary(conn, cid)
        messages = conv_sql.messages_page(conn, cid, offset, limit)
    return Transcript(
        **dict(summary), messages=[Message(**m) for m in messages], offset=offset, limit=limit, around=around
    )


def conversations(
    database: Database,
    namespace: str,
    limit: int,
    cursor: str | None,
    source: str | None,
    query: str | None,
    author: str | None,
) -> ConversationPage:
    """A page of conversations, newest first; `source` and `author` match as in search."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}")
    after = _decode_cursor(cursor) if cursor else None
    try:
        wanted = SearchFilters(source=source, author=author)
        query = query and check_reference(query, "q")  # storable, in NFC as titles and ids are stored
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    with database.transaction(read_only=True) as conn:
        resolved = lookup.resolve(conn, namespace, wanted)
        authors = resolved.author_names() if author else None
        rows = conv_sql.list_page(conn, namespace, limit + 1, after, resolved.source, query, authors)
    items = rows[:limit]
    next_cursor = _encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
    return ConversationPage(items=items, next_cursor=next_cursor)


def delete(database: Database, reference: str, namespace: str) -> UUID:
    """Delete a conversation with its messages and chunks, recorded in the audit log."""
    with database.transaction() as conn:
        cid = lookup.find(conn, namespace, reference)
        if cid is None:
            raise NotFound(f"conversation {reference!r} not found")
        chunk_sql.lock_term_stats(conn, namespace)
        conv_sql.delete(conn, cid)
        token_sql.audit(conn, lookup.actor(), namespace, "conversation.delete", reference, {"id": str(cid)})
    return cid


def _encode_cursor(created_at: datetime, cid: UUID) -> str:
    raw = f"{created_at.isoformat()}|{cid}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, cid = raw.split("|", 1)
        return datetime.fromisoformat(ts), UUID(cid)
    except Exception:
        raise Invalid("cursor is not valid; use next_cursor from a previous page") from None
