"""The use cases: the one place every door (REST, MCP, CLI, UI) calls.

A `Service` holds the process's database engine and embedder, both created
lazily: constructing it is instant, so the MCP handshake and `/health` never
wait for PostgreSQL or the model.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from mcp_rag import chunking, metrics, names
from mcp_rag.chunking import Turn
from mcp_rag.config import Settings
from mcp_rag.embed import Embedder, QueryCache, get_embedder, get_query_embedder
from mcp_rag.errors import Conflict, Invalid, NotFound, Unavailable
from mcp_rag.models import (
    AROUND_AFTER,
    AROUND_BEFORE,
    MAX_PAGE,
    Answer,
    AppliedFilters,
    AskRequest,
    ConversationIn,
    ConversationPage,
    ConversationSummary,
    Hit,
    IngestResult,
    Message,
    MessageIn,
    Remembered,
    SearchFilters,
    SearchRequest,
    SearchResult,
    Transcript,
    check_reference,
)
from mcp_rag.search import fusion, relevance, windows
from mcp_rag.store import chunks as chunk_sql
from mcp_rag.store import conversations as conv_sql
from mcp_rag.store import db
from mcp_rag.store import tokens as token_sql
from mcp_rag.store import windows as window_sql
from mcp_rag.tracing import tracer

if TYPE_CHECKING:  # imported lazily at run time: the importers and sync are not on the start-up path
    import numpy as np

    from mcp_rag.importers.report import ImportResult
    from mcp_rag.sync.slack import SyncResult

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "default"
# A size as PostgreSQL reads it in a setting: 512MB, 2GB (`compact`).
_MEMORY = re.compile(r"[1-9][0-9]*(kB|MB|GB|TB)")


def conversation_hash(conv: ConversationIn) -> str:
    """A stable id for conversations sent without one, so re-sending adds nothing."""
    canonical = json.dumps(
        [conv.title, [(m.author, m.role, m.content, str(m.timestamp)) for m in conv.messages]],
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


EMBED_SLICE = 128  # texts embedded between checks for a stop (about a second)


class Service:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._engine: Engine | None = None
        self._read_engine: Engine | None = None
        self._embedder: Embedder | None = None
        self._query_embedder: Embedder | None = None
        self.query_cache = QueryCache(model_calls=settings.query_model_calls)
        self._query_threads = ThreadPoolExecutor(max_workers=16, thread_name_prefix="query-embed")
        self._lock = threading.Lock()
        self.stopping = threading.Event()  # set when the server shuts down: long work (imports) ends early

    # -- lazily built dependencies ------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    url = db.database_url(self.settings)
                    if self.settings.auto_migrate:
                        self._migrate(url)
                    engine = db.make_engine(url, self.settings.db_pool_size)
                    metrics.instrument_engine(engine)
                    self._engine = engine
        return self._engine

    @property
    def read_engine(self) -> Engine:
        """Where read-only use cases go: DATABASE_READ_URL (e.g. a streaming replica), else the primary.
        Replicas lag a little: a search right after an ingest may not see it yet."""
        if not self.settings.database_read_url:
            return self.engine
        if self._read_engine is None:
            with self._lock:
                if self._read_engine is None:
                    engine = db.make_engine(db.read_url(self.settings), self.settings.db_pool_size)
                    metrics.instrument_engine(engine)
                    self._read_engine = engine
        return self._read_engine

    @staticmethod
    def _migrate(url: str) -> None:
        try:
            db.migrate(url)
        except OperationalError as exc:
            raise Unavailable(f"database unreachable: {exc.orig.__class__.__name__}") from exc

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = metrics.ObservedEmbedder(get_embedder(self.settings))
        return self._embedder

    @property
    def query_embedder(self) -> Embedder:
        if self._query_embedder is None:
            self._query_embedder = metrics.ObservedEmbedder(get_query_embedder(self.settings))
        return self._query_embedder

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._read_engine is not None:
            self._read_engine.dispose()
            self._read_engine = None

    @contextmanager
    def transaction(self, read_only: bool = False) -> Iterator[Connection]:
        """A connection in a transaction; database failures anywhere inside become core
        errors (a dead database is Unavailable, never a 500), for every door alike.
        `read_only` routes to the read engine (DATABASE_READ_URL when set)."""
        try:
            with (self.read_engine if read_only else self.engine).begin() as conn:
                yield conn
        except DBAPIError as exc:
            mapped = self._db_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Like `transaction`, without one (reads that need no atomicity)."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            mapped = self._db_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def _begin(self):
        return self.transaction()

    # -- ingest -----------------------------------------------------------------------
    def ingest(self, conv: ConversationIn, namespace: str = DEFAULT_NAMESPACE) -> IngestResult:
        """Store one conversation: new → created; known id → only unseen messages appended.

        One transaction per conversation: after an error or a crash either all of
        it is stored or none of it is.
        """
        external_id = conv.id or conversation_hash(conv)
        values = conv.model_dump(include={"title", "source", "url", "metadata"})
        return self._write(namespace, external_id, conv.messages, values, create=True)

    def append_messages(
        self,
        conversation: str,
        messages: list[MessageIn],
        namespace: str = DEFAULT_NAMESPACE,
        create: bool = False,
    ) -> IngestResult:
        """Append messages to a known conversation (by our id or yours); with
        `create`, an unknown id starts a new conversation instead of failing."""
        external_id = self._appendable(conversation, messages, namespace, create)
        return self._write(namespace, external_id, messages, {}, create=create, positional=False)

    def _appendable(self, conversation: str, messages: list[MessageIn], namespace: str, create: bool) -> str:
        if not messages:
            raise Invalid("no messages to append")
        with self._begin() as conn:
            cid = _find(conn, namespace, conversation)
            if cid is None and not create:
                raise NotFound(f"conversation {conversation!r} not found")
            return conv_sql.summary(conn, cid)["external_id"] if cid else conversation

    def ingest_in_parts(
        self,
        conv: ConversationIn,
        namespace: str = DEFAULT_NAMESPACE,
        part: int = 100,
        deadline: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestResult:
        """`ingest`, `part` messages per transaction, stopping after the first part that stores
        something past `deadline` (time.monotonic()): `complete` is then False, and sending
        the same conversation again stores the rest (stored messages are skipped by id or position).
        `progress(done, total)` is called after each part."""
        external_id = conv.id or conversation_hash(conv)
        values = conv.model_dump(include={"title", "source", "url", "metadata"})
        return self._in_parts(namespace, external_id, conv.messages, values, True, part, deadline, progress)

    def append_in_parts(
        self,
        conversation: str,
        messages: list[MessageIn],
        namespace: str = DEFAULT_NAMESPACE,
        part: int = 100,
        deadline: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestResult:
        """`append_messages` in parts like `ingest_in_parts`; when not complete, the
        messages from `next_index` on are the ones still to send."""
        external_id = self._appendable(conversation, messages, namespace, False)
        return self._in_parts(namespace, external_id, messages, {}, False, part, deadline, progress)

    def _in_parts(self, namespace, external_id, messages, values, positional, part, deadline, progress):
        total, first, added = len(messages), None, 0
        for start in range(0, total, part):
            result = self._write(
                namespace,
                external_id,
                messages[start : start + part],
                values,
                create=True if positional else False,
                positional=positional,
                position_base=start,
            )
            first = first or result
            added += result.messages_added
            done = min(start + part, total)
            if progress:
                progress(done, total)
            # Parts stored before (a resumed call) take no time to skip: only new work counts.
            if result.messages_added and done < total and deadline is not None and time.monotonic() > deadline:
                return result.model_copy(
                    update={"created": first.created, "messages_added": added, "complete": False, "next_index": done}
                )
        return result.model_copy(update={"created": first.created, "messages_added": added})

    NOTES_ID = "notes"

    def remember(
        self,
        note: str,
        namespace: str = DEFAULT_NAMESPACE,
        author: str | None = None,
        timestamp: datetime | None = None,
    ) -> Remembered:
        """Store one note or fact as a turn of the namespace's notes conversation ("notes"),
        searchable like any other turn, with who said it and when (default: the caller, now)."""
        from datetime import UTC

        try:
            message = MessageIn(
                author=author or auth_actor(), role="note", content=note, timestamp=timestamp or datetime.now(UTC)
            )
        except ValidationError as exc:
            raise Invalid("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
        values = {"title": "Notes", "source": "notes"}
        result = self._write(namespace, self.NOTES_ID, [message], values, create=True, positional=False)
        return Remembered(
            conversation_id=result.id,
            conversation_external_id=result.external_id,
            message_id=str(result.messages_total),
            author=message.author,
            timestamp=message.timestamp,
        )

    def _write(
        self,
        namespace: str,
        external_id: str,
        messages: list[MessageIn],
        values: dict,
        create: bool,
        positional: bool = True,
        position_base: int = 0,
    ) -> IngestResult:
        with tracer.start_as_current_span("service.ingest"), metrics.timed(metrics.ingest_latency):
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    result = self._write_once(
                        namespace, external_id, messages, values, create, positional, position_base
                    )
                    break
                except Conflict as exc:
                    # Concurrent ingests update shared BM25 term counts and may deadlock;
                    # PostgreSQL aborts one, which is rolled back whole and simply rerun.
                    if not _is_contention(exc.__cause__) or attempt == WRITE_ATTEMPTS - 1:
                        raise
                    time.sleep(0.02 * (attempt + 1))
        metrics.ingested_conversations.inc()
        metrics.ingested_messages.inc(result.messages_added)
        return result

    def _write_once(
        self,
        namespace: str,
        external_id: str,
        messages: list[MessageIn],
        values: dict,
        create: bool,
        positional: bool,
        position_base: int = 0,
    ) -> IngestResult:
        embedder = self.embedder
        self._ensure_model()
        try:
            with self._begin() as conn:
                conv_sql.lock_conversation(conn, namespace, external_id)
                cid = conv_sql.find_id(conn, namespace, external_id)
                created = cid is None
                if created:
                    if not create:
                        raise NotFound(f"conversation {external_id!r} not found")
                    cid = conv_sql.insert_conversation(conn, namespace, external_id, values)
                    known, seq = set(), 0
                else:
                    known, seq = (
                        conv_sql.existing_message_ids(conn, cid),
                        conv_sql.last_seq(conn, cid),
                    )

                new_turns, new_meta = self._new_turns(messages, known, seq, positional, position_base)
                if new_turns:
                    conv_sql.insert_messages(conn, cid, new_turns, new_meta)
                    context = self.settings.chunk_context
                    redo_from = chunk_sql.redo_start(conn, cid, context)
                    turns = conv_sql.turns_from(conn, cid, max(1, redo_from - context))
                    drafts = chunking.chunk_turns(
                        turns,
                        self.settings.chunk_max_words,
                        self.settings.chunk_max_messages,
                        context=context,
                        emit_from=redo_from,
                    )
                    vectors = self._embed_unless_stopping(embedder, [d.index_text for d in drafts])
                    metrics.ingested_chunks.inc(len(drafts))
                    chunk_sql.lock_term_stats(conn, namespace)  # held to commit: the writes below are short
                    chunk_sql.delete_from(conn, cid, redo_from)
                    source = values.get("source") or self._source(conn, cid)
                    chunk_sql.insert(conn, cid, namespace, source, drafts, vectors)
                    if self.settings.window_arm:
                        window_sql.refresh(conn, cid, namespace, source, redo_from)
                if new_turns or (not created and create):
                    conv_sql.refresh_summary(conn, cid, values)
                summary = conv_sql.summary(conn, cid)
                n_chunks = conn.execute(
                    text("SELECT count(*) FROM chunks WHERE conversation_id = :id"), {"id": cid}
                ).scalar_one()
        except DBAPIError as exc:
            mapped = self._db_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        return IngestResult(
            id=cid,
            external_id=external_id,
            created=created,
            messages_added=len(new_turns),
            messages_total=summary["message_count"],
            chunks=n_chunks,
        )

    def _embed_unless_stopping(self, embedder: Embedder, texts: list[str]) -> Any:
        """Embeddings in slices, so a server told to stop is not held by a long conversation's
        embedding (up to a minute); the transaction around it then rolls back."""
        import numpy as np

        parts = []
        for start in range(0, len(texts), EMBED_SLICE):
            if self.stopping.is_set():
                raise Unavailable("the server is shutting down; the conversation in flight was not stored")
            parts.append(embedder.embed(texts[start : start + EMBED_SLICE]))
        return np.concatenate(parts) if len(parts) > 1 else parts[0] if parts else embedder.embed([])

    @staticmethod
    def _source(conn, cid: UUID) -> str | None:
        return conv_sql.summary(conn, cid)["source"]

    @staticmethod
    def _new_turns(
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

    def _db_error(self, exc: DBAPIError) -> Exception:
        if _is_contention(exc):  # checked first: SQLAlchemy files these under OperationalError
            return Conflict("concurrent writes collided; retry the request")
        if isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated:
            if not self.settings.database_url:
                from mcp_rag.store import embedded

                embedded.revive(self.settings.pgdata)  # a killed embedded server comes back
            return Unavailable("database unreachable")
        sqlstate = getattr(exc.orig, "sqlstate", "") or ""
        if sqlstate.startswith("22"):  # data exception: bad value for the column
            return Invalid(f"value not storable: {str(exc.orig).splitlines()[0]}")
        if sqlstate.startswith("23"):
            return Conflict("conflicting write; retry the request")
        return exc

    # -- embedding model ----------------------------------------------------------
    _model_checked = False

    def _ensure_model(self) -> None:
        """Record the embedding model on first use; refuse to mix vectors of two models."""
        if self._model_checked:
            return
        embedder = self.embedder
        with self._begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(7428001)"))
            current = chunk_sql.registered_model(conn)
            if current is None:
                chunk_sql.register_model(conn, embedder.name, embedder.dimension)
            elif current != (embedder.name, embedder.dimension):
                raise Conflict(
                    f"the index was built with {current[0]} ({current[1]} dims) but the "
                    f"configured model is {embedder.name}; run `mcp-rag reindex`"
                )
            chunk_sql.ensure_vector_index(conn, embedder.dimension)
        self._model_checked = True

    def reindex(self, progress: Callable[[int, int], None] | None = None, batch: int = 256) -> int:
        """Re-embed every chunk with the configured model and rebuild the vector index."""
        embedder = self.embedder
        with self._begin() as conn:
            total = conn.execute(text("SELECT count(*) FROM chunks")).scalar_one()
            chunk_sql.drop_vector_indexes(conn)
            chunk_sql.register_model(conn, embedder.name, embedder.dimension)
        done, after = 0, 0
        while True:
            with self._begin() as conn:
                rows = chunk_sql.all_for_reindex(conn, after, batch)
                if not rows:
                    break
                ids = [r[0] for r in rows]
                chunk_sql.set_embeddings(conn, ids, embedder.embed([r[1] for r in rows]))
            after = ids[-1]
            done += len(ids)
            if progress:
                progress(done, total)
        with self._begin() as conn:
            chunk_sql.ensure_vector_index(conn, embedder.dimension)
            if self.settings.window_arm:  # conversations stored while the arm was off get their windows
                window_sql.rebuild(conn)
        self._model_checked = True
        return done

    def compact(self, memory: str | None = None, starting: Callable[[], None] | None = None) -> dict[str, Any]:
        """Rewrite the chunk tables (`mcp-rag db compact`): chunks written before
        migration 0007 take its layout, with the embedding in the row, and the space
        of deleted rows is freed. Searches and writes wait until it ends (an exclusive
        lock). `memory` is PostgreSQL's maintenance_work_mem for rebuilding the
        indexes; by default the vector index's size and a quarter, so that pgvector
        builds the HNSW graph in memory (past it, the build is several times slower).
        `starting` is called once the request is accepted, before the long part."""
        if memory is not None and not _MEMORY.fullmatch(memory):
            raise Invalid(f"memory must be a PostgreSQL size such as 512MB or 2GB, not {memory!r}")
        if starting:
            starting()
        started = time.perf_counter()
        with self.connection() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            before = chunk_sql.table_bytes(conn)
            memory = memory or f"{max(64, math.ceil(chunk_sql.vector_index_bytes(conn) * 1.25 / 2**20))}MB"
            chunk_sql.compact(conn, memory)
            after = chunk_sql.table_bytes(conn)
        return {
            "bytes_before": before,
            "bytes_after": after,
            "maintenance_work_mem": memory,
            "seconds": round(time.perf_counter() - started, 1),
        }

    # -- search -------------------------------------------------------------------
    def search(self, req: SearchRequest, namespace: str = DEFAULT_NAMESPACE) -> SearchResult:
        with tracer.start_as_current_span("service.search"), metrics.timed(metrics.search_latency):
            return self._search(req, namespace)

    def _search(self, req: SearchRequest, namespace: str) -> SearchResult:
        started = time.perf_counter()
        self._ensure_model()
        filters = req.filters()
        # A worker thread embeds the query while this one runs the BM25 arm; then this thread
        # hands it the connection (`scope`, with the conversation to search in, whether to
        # rank exactly and the filters as resolved) and the worker runs the vector arm as soon as its vector is ready,
        # without waking this thread in between. The copied context keeps the worker's
        # spans (and logging context) in this request's trace.
        scope: Future[tuple[Connection, UUID | None, bool, SearchFilters]] = Future()
        in_context = contextvars.copy_context().run
        vector_rows = self._query_threads.submit(in_context, self._vector_arm, req, namespace, scope)
        with self.transaction(read_only=True) as conn:
            try:
                cid = None
                if req.conversation_id:
                    cid = _find(conn, namespace, req.conversation_id)
                    if cid is None:
                        raise _missing(conn, namespace, req.conversation_id)
                filters = self._resolve(conn, namespace, filters)
                table_rows = chunk_sql.tune_vector_scan(conn, req.top_k)
                lexical = chunk_sql.lexical_arm(
                    conn, namespace, req.query, filters, cid, req.top_k, self.settings.bm25_candidates
                )
                exact = chunk_sql.ranks_exactly(conn, namespace, filters, cid, table_rows)
                window_hits = self._window_hits(conn, req, namespace, filters, cid)
                scope.set_result((conn, cid, exact, filters))
                semantic, vector = vector_rows.result()
            finally:
                scope.cancel()  # does nothing once set; otherwise the worker stops waiting for it
                wait([vector_rows])  # the worker is done with conn before this thread goes on
            window = self._window_turns(conn, window_hits, semantic, vector, namespace, filters, cid)
            top = fusion.rerank(fusion.fuse(semantic, lexical, window), req.query)[: req.top_k]
            shown = chunk_sql.shown(conn, [r["id"] for r in top])
            # A chunk deleted since the arms read it (each statement sees the latest commits) is left out.
            rows = [{**r, **shown[r["id"]]} for r in top if r["id"] in shown]
            if rows:
                _, dfs, docs = chunk_sql.query_terms(conn, namespace, req.query)
                farthest = max((r["dist"] for r in semantic), default=None)
                relevance.assess(req.query, rows, farthest, dfs, docs)
            counts = conv_sql.message_counts(conn, list({r["conversation_id"] for r in top}))
        return SearchResult(
            query=req.query,
            # A Hit ignores the rows' other columns (id, rank, dist).
            hits=[Hit(**r, message_count=counts.get(r["conversation_id"], r["last_seq"])) for r in rows],
            relevant=any(r["match"] == "strong" for r in rows),
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            filters=AppliedFilters.of(filters),
        )

    def _resolve(self, conn: Connection, namespace: str, filters: SearchFilters) -> SearchFilters:
        """An author as the stored names it means (`names.matching`), a source as stored
        (case ignored). A filter that matches nothing is Invalid, naming the closest
        participants or sources, rather than an empty result that looks like "never said"."""
        if filters.source:
            stored = conv_sql.sources(conn, namespace)
            same = [s for s in stored if names.fold(s) == names.fold(filters.source)]
            if not same:
                raise Invalid(names.hint("source", filters.source, stored))
            filters = filters.model_copy(update={"source": same[0]})
        if filters.author:
            people = conv_sql.participants(conn, namespace)
            matched = names.matching(filters.author, people)
            if not matched:
                raise Invalid(names.hint("participant", filters.author, people))
            filters = filters.with_authors(matched)
        return filters

    def resolve_filters(self, filters: SearchFilters, namespace: str = DEFAULT_NAMESPACE) -> SearchFilters:
        """`_resolve` in its own transaction (for doors that echo the filters of an answer)."""
        with self.transaction(read_only=True) as conn:
            return self._resolve(conn, namespace, filters)

    def _vector_arm(
        self,
        req: SearchRequest,
        namespace: str,
        scope: Future[tuple[Connection, UUID | None, bool, SearchFilters]],
    ) -> tuple[list[dict], np.ndarray]:
        """The vector arm of `_search`, on a worker thread: the query's vector, then the
        rows (under the filters as resolved); the vector too, which the window arm's turns
        are ranked by."""
        vector = self.query_cache.embed(self.query_embedder, req.query)
        conn, cid, exact, filters = scope.result()
        dimension = self.query_embedder.dimension
        return chunk_sql.vector_arm(conn, namespace, vector, dimension, filters, cid, req.top_k, exact), vector

    def _window_hits(
        self, conn: Connection, req: SearchRequest, namespace: str, filters: SearchFilters, cid: UUID | None
    ) -> list[tuple[UUID, int]]:
        """The window arm's best windows (mcp_rag/search/windows.py), none when it is off."""
        if not self.settings.window_arm:
            return []
        return window_sql.lexical(conn, namespace, req.query, filters, cid, self.settings.bm25_candidates)

    def _window_turns(
        self,
        conn: Connection,
        lexical: list[tuple[UUID, int]],
        semantic: list[dict],
        vector: np.ndarray,
        namespace: str,
        filters: SearchFilters,
        cid: UUID | None,
    ) -> list[dict]:
        """The window arm's turns: the BM25 windows and the windows holding the vector
        arm's hits merged, each resolved to its turns closest to the query
        (mcp_rag/search/windows.py)."""
        if not self.settings.window_arm:
            return []
        hits = windows.fuse(lexical, windows.by_vector_hits(semantic))
        return window_sql.turns(conn, hits, vector, self.query_embedder.dimension, namespace, filters, cid)

    # -- ask (answers with citations; the rules live in mcp_rag/answer.py) --------
    def ask(self, req: AskRequest, namespace: str = DEFAULT_NAMESPACE) -> Answer:
        """Answer a question from the stored conversations, citing the turns used."""
        from mcp_rag import answer

        with tracer.start_as_current_span("service.ask"), metrics.timed(metrics.ask_latency):
            result = answer.ask(self, req, namespace)
        result.filters = AppliedFilters.of(self.resolve_filters(req.filters(), namespace))
        return result

    def ask_stream(self, req: AskRequest, namespace: str = DEFAULT_NAMESPACE) -> Iterator[tuple[str, Any]]:
        """Like `ask`, as events: sources, tokens, then done (an Answer) or error (an McpRagError).
        Retrieval runs before this returns, so bad filters raise here, not mid-stream."""
        from mcp_rag import answer

        return answer.stream(self, req, namespace)

    def turns_for(self, hits: list[Hit]) -> dict[tuple[UUID, str], Turn]:
        """The verbatim turns behind search hits, keyed by (conversation id, message id)."""
        wanted: dict[UUID, list[str]] = {}
        for hit in hits:
            wanted.setdefault(hit.conversation_id, []).extend(hit.message_ids)
        with self.transaction(read_only=True) as conn:
            return {
                (cid, t.external_id): t for cid, ids in wanted.items() for t in conv_sql.turns_by_ids(conn, cid, ids)
            }

    # -- import and sync (the rules live in mcp_rag/importers/ and mcp_rag/sync/) --
    def import_files(
        self,
        inputs: list[tuple[str, Any]],
        namespace: str = DEFAULT_NAMESPACE,
        format: str | None = None,
        keep_noise: bool = False,
        progress: Callable[[Any], None] | None = None,
        stop: threading.Event | None = None,
    ) -> ImportResult:
        """Import exports (files, folders, zips) given as (name shown, path); per-file report.
        Ends early (Unavailable) once `stop` is set or the service is stopping."""
        from pathlib import Path

        from mcp_rag.importers import run

        given = [run.Input(name, Path(path)) for name, path in inputs]
        stops = (self.stopping, stop) if stop else (self.stopping,)
        return run.import_inputs(self, given, namespace, format, keep_noise, progress, stop=stops)

    def import_from_roots(
        self,
        path: str,
        namespace: str = DEFAULT_NAMESPACE,
        format: str | None = None,
        progress: Callable[[Any], None] | None = None,
    ) -> ImportResult:
        """Like import_files for one path, refused unless it lies below MCP_RAG_IMPORT_ROOTS."""
        from mcp_rag.importers import roots, run

        real, allowed = roots.confine(path, self.settings.import_roots)
        return run.import_inputs(
            self,
            [run.Input(path, real)],
            namespace,
            format,
            progress=progress,
            allowed=allowed,
            stop=(self.stopping,),
        )

    def check_import_path(self, path: str) -> None:
        """Raise as import_from_roots would for a path outside the import roots, without importing."""
        from mcp_rag.importers import roots

        roots.confine(path, self.settings.import_roots)

    def sync_slack(
        self, channels: list[str], namespace: str = DEFAULT_NAMESPACE, keep_noise: bool = False
    ) -> list[SyncResult]:
        """Fetch new Slack messages of these channels (Web API) and store them; resumes from the stored cursor."""
        from mcp_rag.sync import slack

        return slack.sync(self, channels, namespace, keep_noise)

    # -- read and delete ---------------------------------------------------------
    def get_conversation(
        self,
        conversation: str,
        namespace: str = DEFAULT_NAMESPACE,
        offset: int = 0,
        limit: int = 200,
        around: str | None = None,
        before: int = AROUND_BEFORE,
        after: int = AROUND_AFTER,
    ) -> Transcript:
        """A page of a conversation: from `offset`, or, with `around` (a message id), that
        message with up to `before` messages ahead of it and `after` behind it."""
        if offset < 0 or not 1 <= limit <= MAX_PAGE:
            raise Invalid(f"offset must be ≥ 0 and limit between 1 and {MAX_PAGE}")
        if not (0 <= before < MAX_PAGE and 0 <= after < MAX_PAGE):
            raise Invalid(f"before and after must be between 0 and {MAX_PAGE - 1}")
        with self.transaction(read_only=True) as conn:
            cid = _find(conn, namespace, conversation)
            if cid is None:
                raise _missing(conn, namespace, conversation)
            if around is not None:
                seq = conv_sql.seq_of(conn, cid, around)
                if seq is None:
                    raise NotFound(f"message {around!r} not found in conversation {conversation!r}")
                offset = max(0, seq - 1 - before)
                limit = min(MAX_PAGE, seq - offset + after)
            summary = conv_sql.summary(conn, cid)
            messages = conv_sql.messages_page(conn, cid, offset, limit)
        return Transcript(
            **summary, messages=[Message(**m) for m in messages], offset=offset, limit=limit, around=around
        )

    def list_conversations(
        self,
        namespace: str = DEFAULT_NAMESPACE,
        limit: int = 50,
        cursor: str | None = None,
        source: str | None = None,
        query: str | None = None,
        author: str | None = None,
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
        with self.transaction(read_only=True) as conn:
            resolved = self._resolve(conn, namespace, wanted)
            authors = resolved.author_names() if author else None
            rows = conv_sql.list_page(conn, namespace, limit + 1, after, resolved.source, query, authors)
        items = [ConversationSummary(**r) for r in rows[:limit]]
        next_cursor = _encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
        return ConversationPage(items=items, next_cursor=next_cursor)

    def delete_conversation(self, conversation: str, namespace: str = DEFAULT_NAMESPACE) -> UUID:
        with self._begin() as conn:
            cid = _find(conn, namespace, conversation)
            if cid is None:
                raise NotFound(f"conversation {conversation!r} not found")
            chunk_sql.lock_term_stats(conn, namespace)
            conv_sql.delete(conn, cid)
            token_sql.audit(conn, auth_actor(), namespace, "conversation.delete", conversation, {"id": str(cid)})
        return cid

    # -- status -------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Database revision, counts and model: what `db status` and /version show."""
        with self._begin() as conn:
            counts = conv_sql.counts(conn)
            model = chunk_sql.registered_model(conn)
        return {
            "database": "embedded" if not self.settings.database_url else "external",
            "schema_revision": db.current_revision(self.engine),
            "schema_head": db.head_revision(),
            "embedding_model": self.embedder.name,
            "indexed_model": model[0] if model else None,
            **counts,
        }

    def version_info(self) -> dict[str, Any]:
        """What /version reports besides the package version; never fails on a down database."""
        try:
            revision = db.current_revision(self.engine)
        except Exception:
            revision = None
        from mcp_rag import llm

        provider = llm.provider_name(self.settings)
        return {
            "git_commit": _git_commit(),
            "schema_revision": revision,
            # Which answerer `ask` uses (the UI shows it before the first question); never a key.
            "answer_provider": provider,
            "answer_model": None
            if provider == "extractive"
            else (self.settings.answer_model or llm.DEFAULT_MODELS.get(provider)),
            "embedding_model": self.settings.embedding_model
            if self.settings.embedding_provider == "onnx"
            else f"openai/{self.settings.embedding_model}",
        }

    def warm_up(self) -> None:
        """Load the query model before the first search asks for it (`serve` runs this
        on a thread at start): that search would otherwise wait for it, and on a
        first run for its int8 form to be built (a few seconds). A failure is
        logged; the first search then tries again and reports it."""
        started = time.perf_counter()
        try:
            load = getattr(self.query_embedder, "ensure_loaded", None)  # offline models only
            if load is not None:
                load()
                log.info("query model ready in %.1f s", time.perf_counter() - started)
        except Exception as exc:
            log.warning("could not load the query model ahead of the first search: %s", exc)

    def ready(self) -> None:
        """Raise Unavailable unless the database answers."""
        with self.connection() as conn:
            conn.execute(text("SELECT 1"))


WRITE_ATTEMPTS = 5
_CONTENTION = ("40P01", "40001")  # deadlock detected, serialization failure


def _is_contention(exc: BaseException | None) -> bool:
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _CONTENTION


def _find(conn, namespace: str, reference: str) -> UUID | None:
    """A conversation by our uuid or the caller's id; a malformed reference is Invalid."""
    try:
        reference = check_reference(reference, "conversation id")
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    return conv_sql.find_id(conn, namespace, reference)


def _missing(conn, namespace: str, reference: str) -> NotFound:
    """NotFound for a conversation id, naming the closest ids and titles stored."""
    near = names.closest(reference, conv_sql.recent_references(conn, namespace), n=5)
    hint = f"; closest: {', '.join(near)}" if near else "; list_conversations shows what is stored"
    return NotFound(f"conversation {reference!r} not found{hint}")


def auth_actor() -> str:
    """Who is acting, for the audit log (the caller of the current request, or local)."""
    from mcp_rag import auth

    return auth.current().actor


def _git_commit() -> str | None:
    """Set by the image build (MCP_RAG_GIT_COMMIT); else read from a source checkout."""
    import os
    import subprocess

    if os.environ.get("MCP_RAG_GIT_COMMIT"):
        return os.environ["MCP_RAG_GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            cwd=os.path.dirname(__file__),
        )
        return out.stdout.strip() or None
    except Exception:
        return None


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
