"""The facade every door (REST, MCP, CLI, UI) calls, and the composition root.

A `Service` holds the process's database engine and embedder, both created
lazily: constructing it is instant, so the MCP handshake and `/health` never
wait for PostgreSQL or the model. Each use case lives in its own module beside
this one (ingest, searching, reading, importing, indexing, status; answers in
answer.py) and takes the service as the few things it needs of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from mcp_rag import importing, indexing, ingest, memory, metrics, reading, searching, status
from mcp_rag.chunking import Turn
from mcp_rag.config import Settings
from mcp_rag.embed import Embedder, QueryCache, get_embedder, get_query_embedder
from mcp_rag.errors import Unavailable
from mcp_rag.models import (
    AROUND_AFTER,
    AROUND_BEFORE,
    DEFAULT_NAMESPACE,
    Answer,
    AppliedFilters,
    AskRequest,
    ConversationIn,
    ConversationPage,
    Hit,
    IngestResult,
    MessageIn,
    Remembered,
    SearchFilters,
    SearchRequest,
    SearchResult,
    Transcript,
)
from mcp_rag.models import MAX_PAGE as MAX_PAGE  # the REST door reads it here
from mcp_rag.store import db, maintenance
from mcp_rag.tracing import tracer

if TYPE_CHECKING:  # imported lazily at run time: the importers and sync are not on the start-up path
    from mcp_rag.importers.report import ImportResult
    from mcp_rag.sync.slack import SyncResult


# glibc's arenas in the lean profile (its default: 8 per core, each keeping what its threads freed).
LEAN_MALLOC_ARENAS = 2


class Service:
    def __init__(self, settings: Settings):
        self.settings = settings
        if settings.memory_profile == "lean":
            memory.limit_arenas(LEAN_MALLOC_ARENAS)  # before the thread pools start (docs/PERFORMANCE.md, memory)
        self._engine: Engine | None = None
        self._read_engine: Engine | None = None
        self._embedder: Embedder | None = None
        self._query_embedder: Embedder | None = None
        self.query_cache = QueryCache(model_calls=settings.query_model_calls)
        self.query_threads = ThreadPoolExecutor(max_workers=16, thread_name_prefix="query-embed")
        self._lock = threading.Lock()
        self.stopping = threading.Event()  # set when the server shuts down: long work (imports) ends early

    # -- lazily built dependencies ------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    url = db.database_url(self.settings)
                    engine = db.make_engine(url, self.settings.db_pool_size, self.settings.db_pool_idle_seconds)
                    if self.settings.auto_migrate:
                        self._migrate(url, engine)
                    metrics.instrument_engine(engine)
                    maintenance.install(engine)
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
                    engine = db.make_engine(
                        db.read_url(self.settings), self.settings.db_pool_size, self.settings.db_pool_idle_seconds
                    )
                    metrics.instrument_engine(engine)
                    self._read_engine = engine
        return self._read_engine

    @staticmethod
    def _migrate(url: str, engine: Engine) -> None:
        """Migrate to this release's head unless the database is there already (no Alembic then)."""
        try:
            if db.current_revision(engine) != db.head_revision():
                db.migrate_apart(url)
        except BaseException as exc:
            engine.dispose()  # the caller keeps no engine when migrating failed
            if isinstance(exc, OperationalError):
                raise Unavailable(f"database unreachable: {exc.orig.__class__.__name__}") from exc
            raise

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
        with db.mapped_errors(self._revive), (self.read_engine if read_only else self.engine).begin() as conn:
            yield conn

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Like `transaction`, without one (reads that need no atomicity)."""
        with db.mapped_errors(self._revive), self.engine.connect() as conn:
            yield conn

    def _revive(self) -> None:
        """A killed embedded server comes back (an external DATABASE_URL is not ours to restart)."""
        if not self.settings.database_url:
            from mcp_rag.store import embedded  # imported here: only a dead embedded server needs it

            embedded.revive(self.settings.pgdata)

    # -- the embedding model -------------------------------------------------------
    _model_checked = False

    def ensure_model(self) -> None:
        """Record the embedding model on first use; refuse to mix vectors of two models."""
        if self._model_checked:
            return
        indexing.check_model(self, self.embedder)
        self._model_checked = True

    def reindex(self, progress: Callable[[int, int], None] | None = None, batch: int = 256) -> int:
        """Re-embed every chunk with the configured model and rebuild the vector index."""
        done = indexing.reindex(self, self.embedder, self.settings, progress, batch)
        self._model_checked = True
        return done

    def rebuild_windows(self) -> int:
        """Rewrite the window arm's windows of every conversation (no re-embedding)."""
        return indexing.rebuild_windows(self, self.settings)

    def compact(self, memory: str | None = None, starting: Callable[[], None] | None = None) -> dict[str, Any]:
        """Rewrite the chunk tables (`mcp-rag db compact`); see `indexing.compact`."""
        return indexing.compact(self, memory, starting)

    # -- ingest (mcp_rag/ingest.py) --------------------------------------------------
    def ingest(self, conv: ConversationIn, namespace: str = DEFAULT_NAMESPACE) -> IngestResult:
        """Store one conversation: new → created; known id → only unseen messages appended.

        One transaction per conversation: after an error or a crash either all of
        it is stored or none of it is.
        """
        return ingest.ingest(self, conv, namespace)

    def append_messages(
        self,
        conversation: str,
        messages: list[MessageIn],
        namespace: str = DEFAULT_NAMESPACE,
        create: bool = False,
    ) -> IngestResult:
        """Append messages to a known conversation (by our id or yours); with
        `create`, an unknown id starts a new conversation instead of failing."""
        return ingest.append(self, conversation, messages, namespace, create)

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
        return ingest.ingest_in_parts(self, conv, namespace, part, deadline, progress)

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
        return ingest.append_in_parts(self, conversation, messages, namespace, part, deadline, progress)

    def remember(
        self,
        note: str,
        namespace: str = DEFAULT_NAMESPACE,
        author: str | None = None,
        timestamp: datetime | None = None,
    ) -> Remembered:
        """Store one note or fact as a turn of the namespace's notes conversation ("notes"),
        searchable like any other turn, with who said it and when (default: the caller, now)."""
        return ingest.remember(self, note, namespace, author, timestamp)

    # -- search (mcp_rag/searching.py) -----------------------------------------------
    def search(self, req: SearchRequest, namespace: str = DEFAULT_NAMESPACE) -> SearchResult:
        return searching.search(self, req, namespace)

    def resolve_filters(self, filters: SearchFilters, namespace: str = DEFAULT_NAMESPACE) -> SearchFilters:
        """Filters as the stored names they mean, in their own transaction (for doors that
        echo the filters of an answer)."""
        return searching.resolve_filters(self, filters, namespace)

    def turns_for(self, hits: list[Hit]) -> dict[tuple[UUID, str], Turn]:
        """The verbatim turns behind search hits, keyed by (conversation id, message id)."""
        return searching.turns_for(self, hits)

    # -- ask (answers with citations; the rules live in mcp_rag/answer.py) --------
    def ask(self, req: AskRequest, namespace: str = DEFAULT_NAMESPACE) -> Answer:
        """Answer a question from the stored conversations, citing the turns used."""
        from mcp_rag import answer  # imported here: the answerers are not on the start-up path

        with tracer.start_as_current_span("service.ask"), metrics.timed(metrics.ask_latency):
            result = answer.ask(self, req, namespace)
        result.filters = AppliedFilters.of(self.resolve_filters(req.filters(), namespace))
        return result

    def ask_stream(self, req: AskRequest, namespace: str = DEFAULT_NAMESPACE) -> Iterator[tuple[str, Any]]:
        """Like `ask`, as events: sources, tokens, then done (an Answer) or error (an McpRagError).
        Retrieval runs before this returns, so bad filters raise here, not mid-stream."""
        from mcp_rag import answer  # imported here: the answerers are not on the start-up path

        return answer.stream(self, req, namespace)

    # -- import and sync (mcp_rag/importing.py) ----------------------------------------
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
        return importing.import_files(self, inputs, namespace, format, keep_noise, progress, stop)

    def import_from_roots(
        self,
        path: str,
        namespace: str = DEFAULT_NAMESPACE,
        format: str | None = None,
        progress: Callable[[Any], None] | None = None,
    ) -> ImportResult:
        """Like import_files for one path, refused unless it lies below MCP_RAG_IMPORT_ROOTS."""
        return importing.import_from_roots(self, path, namespace, format, progress)

    def check_import_path(self, path: str) -> None:
        """Raise as import_from_roots would for a path outside the import roots, without importing."""
        importing.check_import_path(self.settings, path)

    def sync_slack(
        self, channels: list[str], namespace: str = DEFAULT_NAMESPACE, keep_noise: bool = False
    ) -> list[SyncResult]:
        """Fetch new Slack messages of these channels (Web API) and store them; resumes from the stored cursor."""
        return importing.sync_slack(self, channels, namespace, keep_noise)

    # -- read and delete (mcp_rag/reading.py) ----------------------------------------
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
        return reading.conversation(self, conversation, namespace, offset, limit, around, before, after)

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
        return reading.conversations(self, namespace, limit, cursor, source, query, author)

    def delete_conversation(self, conversation: str, namespace: str = DEFAULT_NAMESPACE) -> UUID:
        return reading.delete(self, conversation, namespace)

    # -- status (mcp_rag/status.py) ----------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Database revision, counts and model: what `db status` and /version show."""
        return status.status(self)

    def version_info(self) -> dict[str, Any]:
        """What /version reports besides the package version; never fails on a down database."""
        return status.version_info(self)

    def warm_up(self) -> None:
        """Load the query model before the first search asks for it (`serve` runs this at start)."""
        status.warm_up(self)

    def ready(self) -> None:
        """Raise Unavailable unless the database answers with a schema this release can serve."""
        status.ready(self)
