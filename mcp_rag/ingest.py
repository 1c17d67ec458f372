"""Storing conversations: ingest, append, both in parts under a deadline, and `remember`.

One transaction per conversation (or per part): after an error or a crash either
all of it is stored or none of it is. Messages already stored are skipped by id,
or by position for messages sent without one, so re-sending stores nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import numpy as np
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from mcp_rag import chunking, lookup, metrics
from mcp_rag.chunking import Turn
from mcp_rag.config import Settings
from mcp_rag.embed import Embedder
from mcp_rag.errors import Conflict, Invalid, NotFound, Unavailable
from mcp_rag.models import ConversationIn, IngestResult, MessageIn, Remembered
from mcp_rag.store import chunks as chunk_sql
from mcp_rag.store import conversations as conv_sql
from mcp_rag.store import db
from mcp_rag.store import windows as window_sql
from mcp_rag.tracing import tracer

EMBED_SLICE = 128  # texts embedded between checks for a stop (about a second)
WRITE_ATTEMPTS = 5
NOTES_ID = "notes"  # the conversation `remember` writes to, one per namespace


class Writer(Protocol):
    """What storing needs of the service (which provides it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def stopping(self) -> threading.Event: ...

    def transaction(self, read_only: bool = False) -> AbstractContextManager[Connection]: ...

    def ensure_model(self) -> None: ...


def conversation_hash(conv: ConversationIn) -> str:
    """A stable id for conversations sent without one, so re-sending adds nothing."""
    canonical = json.dumps(
        [conv.title, [(m.author, m.role, m.content, str(m.timestamp)) for m in conv.messages]],
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def ingest(service: Writer, conv: ConversationIn, namespace: str) -> IngestResult:
    """Store one conversation: new → created; known id → only unseen messages appended."""
    external_id = conv.id or conversation_hash(conv)
    values = conv.model_dump(include={"title", "source", "url", "metadata"})
    return write(service, namespace, external_id, conv.messages, values, create=True)


def append(service: Writer, conversation: str, messages: list[MessageIn], namespace: str, create: bool) -> IngestResult:
    """Append messages to a known conversation (by our id or yours); with
    `create`, an unknown id starts a new conversation instead of failing."""
    external_id = appendable(service, conversation, messages, namespace, create)
    return write(service, namespace, external_id, messages, {}, create=create, positional=False)


def appendable(service: Writer, conversation: str, messages: list[MessageIn], namespace: str, create: bool) -> str:
    """The caller's id of the conversation messages are appended to."""
    if not messages:
        raise Invalid("no messages to append")
    with service.transaction() as conn:
        cid = lookup.find(conn, namespace, conversation)
        if cid is None and not create:
            raise NotFound(f"conversation {conversation!r} not found")
        return conv_sql.summary(conn, cid).external_id if cid else conversation


def ingest_in_parts(
    service: Writer,
    conv: ConversationIn,
    namespace: str,
    part: int,
    deadline: float | None,
    progress: Callable[[int, int], None] | None,
) -> IngestResult:
    """`ingest`, `part` messages per transaction (`in_parts`)."""
    external_id = conv.id or conversation_hash(conv)
    values = conv.model_dump(include={"title", "source", "url", "metadata"})
    return in_parts(service, namespace, external_id, conv.messages, values, True, part, deadline, progress)


def append_in_parts(
    service: Writer,
    conversation: str,
    messages: list[MessageIn],
    namespace: str,
    part: int,
    deadline: float | None,
    progress: Callable[[int, int], None] | None,
) -> IngestResult:
    """`append` in parts (`in_parts`)."""
    external_id = appendable(service, conversation, messages, namespace, False)
    return in_parts(service, namespace, external_id, messages, {}, False, part, deadline, progress)


def in_parts(
    service: Writer,
    namespace: str,
    external_id: str,
    messages: list[MessageIn],
    values: dict,
    positional: bool,
    part: int,
    deadline: float | None,
    progress: Callable[[int, int], None] | None,
) -> IngestResult:
    """`part` messages per transaction, stopping after the first part that stores
    something past `deadline` (time.monotonic()): `complete` is then False and
    `next_index` the first message still to send. `progress(done, total)` is
    called after each part."""
    total, added = len(messages), 0
    first: IngestResult | None = None
    for start in range(0, max(total, 1), part):  # at least one write: it creates or finds the conversation
        result = write(
            service,
            namespace,
            external_id,
            messages[start : start + part],
            values,
            create=True if positional else False,
            positional=positional,
            position_base=start,
        )
        first = first or result
        assert first is not None  # set on the first write
        added += result.messages_added
        done = min(start + part, total)
        if progress:
            progress(done, total)
        # Parts stored before (a resumed call) take no time to skip: only new work counts.
        if result.messages_added and done < total and deadline is not None and time.monotonic() > deadline:
            return result.model_copy(
                update={"created": first.created, "messages_added": added, "complete": False, "next_index": done}
            )
    assert first is not None and result is not None  # the loop wrote at least once
    return result.model_copy(update={"created": first.created, "messages_added": added})


def remember(service: Writer, note: str, namespace: str, author: str | None, timestamp: datetime | None) -> Remembered:
    """Store one note or fact as a turn of the namespace's notes conversation (NOTES_ID),
    searchable like any other turn, with who said it and when (default: the caller, now)."""
    try:
        message = MessageIn(
            author=author or lookup.actor(), role="note", content=note, timestamp=timestamp or datetime.now(UTC)
        )
    except ValidationError as exc:
        raise Invalid("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
    values = {"title": "Notes", "source": "notes"}
    result = write(service, namespace, NOTES_ID, [message], values, create=True, positional=False)
    return Remembered(
        conversation_id=result.id,
        conversation_external_id=result.external_id,
        message_id=str(result.messages_total),
        author=message.author,
        timestamp=message.timestamp,
    )


def write(
    service: Writer,
    namespace: str,
    external_id: str,
    messages: list[MessageIn],
    values: dict,
    create: bool,
    positional: bool = True,
    position_base: int = 0,
) -> IngestResult:
    """One conversation's new messages in one transaction, rerun on contention."""
    with tracer.start_as_current_span("service.ingest"), metrics.timed(metrics.ingest_latency):
        for attempt in range(WRITE_ATTEMPTS):
            try:
                result = _write_once(
                    service, namespace, external_id, messages, values, create, positional, position_base
                )
                break
            except Conflict as exc:
                # Concurrent ingests update shared BM25 term counts and may deadlock;
                # PostgreSQL aborts one, which is rolled back whole and simply rerun.
                if not db.is_contention(exc.__cause__) or attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.02 * (attempt + 1))
    metrics.ingested_conversations.inc()
    metrics.ingested_messages.inc(result.messages_added)
    return result


def _write_once(
    service: Writer,
    namespace: str,
    external_id: str,
    messages: list[MessageIn],
    values: dict,
    create: bool,
    positional: bool,
    position_base: int = 0,
) -> IngestResult:
    settings = service.settings
    embedder = service.embedder
    service.ensure_model()
    with service.transaction() as conn:
        conv_sql.lock_conversation(conn, namespace, external_id)
        found = conv_sql.find_id(conn, namespace, external_id)
        created = found is None
        known: set[str]
        if found is None:
            if not create:
                raise NotFound(f"conversation {external_id!r} not found")
            cid = conv_sql.insert_conversation(conn, namespace, external_id, values)
            known, seq = set(), 0
        else:
            cid = found
            known, seq = (
                conv_sql.existing_message_ids(conn, cid),
                conv_sql.last_seq(conn, cid),
            )

        new_turns, new_meta = new_messages(messages, known, seq, positional, position_base)
        if new_turns:
            conv_sql.insert_messages(conn, cid, new_turns, new_meta)
            context = settings.chunk_context
            redo_from = chunk_sql.redo_start(conn, cid, context)
            turns = conv_sql.turns_from(conn, cid, max(1, redo_from - context))
            drafts = chunking.chunk_turns(
                turns,
                settings.chunk_max_words,
                settings.chunk_max_messages,
                context=context,
                emit_from=redo_from,
            )
            vectors = _embed_unless_stopping(service.stopping, embedder, [d.index_text for d in drafts])
            metrics.ingested_chunks.inc(len(drafts))
            chunk_sql.lock_term_stats(conn, namespace)  # held to commit: the writes below are short
            chunk_sql.delete_from(conn, cid, redo_from)
            source = values.get("source") or _source(conn, cid)
            chunk_sql.insert(conn, cid, namespace, source, drafts, vectors)
            if settings.window_arm:
                window_sql.refresh(conn, cid, namespace, source, redo_from)
        if new_turns or (not created and create):
            conv_sql.refresh_summary(conn, cid, values)
        summary = conv_sql.summary(conn, cid)
        n_chunks = chunk_sql.count(conn, cid)
    return IngestResult(
        id=cid,
        external_id=external_id,
        created=created,
        messages_added=len(new_turns),
        messages_total=summary.message_count,
        chunks=n_chunks,
    )


def _embed_unless_stopping(stopping: threading.Event, embedder: Embedder, texts: list[str]) -> Any:
    """Embeddings in slices, so a server told to stop is not held by a long conversation's
    embedding (up to a minute); the transaction around it then rolls back."""
    parts = []
    for start in range(0, len(texts), EMBED_SLICE):
        if stopping.is_set():
            raise Unavailable("the server is shutting down; the conversation in flight was not stored")
        parts.append(embedder.embed(texts[start : start + EMBED_SLICE]))
    return np.concatenate(parts) if len(parts) > 1 else parts[0] if parts else embedder.embed([])


def _source(conn: Connection, cid: UUID) -> str | None:
    return conv_sql.summary(conn, cid).source


def new_messages(
    messages: list[MessageIn], known: set[str], seq: int, positional: bool, position_base: int = 0
) -> tuple[list[Turn], list[dict]]:
    """Messages not stored yet. A message without an id is known by its position
    in the conversation (1-based; `messages` starts at `position_base`), so
    re-sending a transcript appends its tail."""
    turns: list[Turn] = []
    meta: list[dict] = []
    seen: set[str] = set()
    for i, m in enumerate(messages, start=position_base + 1):
        ext = m.id or str(i if positional else seq + len(turns) + 1)
        if ext in known or ext in seen:
            continue
        seen.add(ext)
        turns.append(Turn(seq + len(turns) + 1, ext, m.author, m.role, m.content, m.timestamp))
        meta.append(m.metadata)
    return turns, meta
