"""Search: the BM25, vector and window arms over the stored turns, fused and reranked
into hits (the ranking rules live in mcp_rag/search/, the SQL in mcp_rag/store/)."""

from __future__ import annotations

import contextvars
import time
from concurrent.futures import Executor, Future, wait
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from sqlalchemy.engine import Connection

from mcp_rag import lookup, metrics
from mcp_rag.chunking import Turn
from mcp_rag.config import Settings
from mcp_rag.embed import Embedder, QueryCache
from mcp_rag.models import AppliedFilters, Hit, SearchFilters, SearchRequest, SearchResult
from mcp_rag.search import fusion, relevance, windows
from mcp_rag.search.candidates import Candidate
from mcp_rag.store import arms
from mcp_rag.store import conversations as conv_sql
from mcp_rag.store import windows as window_sql
from mcp_rag.store.db import Database
from mcp_rag.tracing import tracer

if TYPE_CHECKING:
    import numpy as np


class Searcher(Protocol):
    """What searching needs of the service (which provides it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def query_embedder(self) -> Embedder: ...

    @property
    def query_cache(self) -> QueryCache: ...

    @property
    def query_threads(self) -> Executor: ...

    def transaction(self, read_only: bool = False) -> AbstractContextManager[Connection]: ...

    def ensure_model(self) -> None: ...


def search(service: Searcher, req: SearchRequest, namespace: str) -> SearchResult:
    with tracer.start_as_current_span("service.search"), metrics.timed(metrics.search_latency):
        return _search(service, req, namespace)


def _search(service: Searcher, req: SearchRequest, namespace: str) -> SearchResult:
    started = time.perf_counter()
    service.ensure_model()
    filters = req.filters()
    # A worker thread embeds the query while this one runs the BM25 arm; then this thread
    # hands it the connection (`scope`, with the conversation to search in, whether to
    # rank by sign bits and the filters as resolved) and the worker runs the vector arm as soon as its vector is ready,
    # without waking this thread in between. The copied context keeps the worker's
    # spans (and logging context) in this request's trace.
    scope: Future[tuple[Connection, UUID | None, bool, SearchFilters]] = Future()
    in_context = contextvars.copy_context().run
    vector_rows = service.query_threads.submit(in_context, _vector_arm, service, req, namespace, scope)
    with service.transaction(read_only=True) as conn:
        try:
            cid = None
            if req.conversation_id:
                cid = lookup.find(conn, namespace, req.conversation_id)
                if cid is None:
                    raise lookup.missing(conn, namespace, req.conversation_id)
            filters = lookup.resolve(conn, namespace, filters)
            table_rows = arms.tune_vector_scan(conn, req.top_k)
            lexical = arms.lexical_arm(
                conn, namespace, req.query, filters, cid, req.top_k, service.settings.bm25_candidates
            )
            by_bits = arms.ranks_by_bits(conn, namespace, filters, cid, table_rows)
            window_hits = _window_hits(service, conn, req, namespace, filters, cid)
            scope.set_result((conn, cid, by_bits, filters))
            semantic, vector = vector_rows.result()
        finally:
            scope.cancel()  # does nothing once set; otherwise the worker stops waiting for it
            wait([vector_rows])  # the worker is done with conn before this thread goes on
        window = _window_turns(service, conn, window_hits, semantic, vector, namespace, filters, cid)
        top = fusion.rerank(fusion.fuse(semantic, lexical, window), req.query)[: req.top_k]
        shown = arms.shown(conn, [r["id"] for r in top])
        # A chunk deleted since the arms read it (each statement sees the latest commits) is left out.
        rows = [{**r, **shown[r["id"]]} for r in top if r["id"] in shown]
        if rows:
            _, dfs, docs = arms.query_terms(conn, namespace, req.query)
            farthest = max((r["dist"] for r in semantic), default=None)
            relevance.assess(req.query, rows, farthest, dfs, docs)
        counts = conv_sql.message_counts(conn, list({r["conversation_id"] for r in top}))
    return SearchResult(
        query=req.query,
        # A Hit ignores the rows' other columns (id, rank, dist).
        hits=[
            Hit.model_validate({**r, "message_count": counts.get(r["conversation_id"], r["last_seq"])}) for r in rows
        ],
        relevant=any(r["match"] == "strong" for r in rows),
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        filters=AppliedFilters.of(filters),
    )


def resolve_filters(database: Database, filters: SearchFilters, namespace: str) -> SearchFilters:
    """`lookup.resolve` in its own transaction (for doors that echo the filters of an answer)."""
    with database.transaction(read_only=True) as conn:
        return lookup.resolve(conn, namespace, filters)


def _vector_arm(
    service: Searcher,
    req: SearchRequest,
    namespace: str,
    scope: Future[tuple[Connection, UUID | None, bool, SearchFilters]],
) -> tuple[list[Candidate], np.ndarray]:
    """The vector arm of `_search`, on a worker thread: the query's vector, then the
    rows (under the filters as resolved); the vector too, which the window arm's turns
    are ranked by."""
    vector = service.query_cache.embed(service.query_embedder, req.query)
    conn, cid, by_bits, filters = scope.result()
    dimension = service.query_embedder.dimension
    return arms.vector_arm(conn, namespace, vector, dimension, filters, cid, req.top_k, by_bits), vector


def _window_hits(
    service: Searcher, conn: Connection, req: SearchRequest, namespace: str, filters: SearchFilters, cid: UUID | None
) -> list[tuple[UUID, int]]:
    """The window arm's best windows (mcp_rag/search/windows.py), none when it is off."""
    if not service.settings.window_arm:
        return []
    return window_sql.lexical(conn, namespace, req.query, filters, cid, service.settings.bm25_candidates)


def _window_turns(
    service: Searcher,
    conn: Connection,
    lexical: list[tuple[UUID, int]],
    semantic: list[Candidate],
    vector: np.ndarray,
    namespace: str,
    filters: SearchFilters,
    cid: UUID | None,
) -> list[Candidate]:
    """The window arm's turns: the BM25 windows and the windows holding the vector
    arm's hits merged, each resolved to its turns closest to the query
    (mcp_rag/search/windows.py)."""
    if not service.settings.window_arm:
        return []
    hits = windows.fuse(lexical, windows.by_vector_hits(semantic))
    return window_sql.turns(conn, hits, vector, service.query_embedder.dimension, namespace, filters, cid)


def turns_for(database: Database, hits: list[Hit]) -> dict[tuple[UUID, str], Turn]:
    """The verbatim turns behind search hits, keyed by (conversation id, message id)."""
    wanted: dict[UUID, list[str]] = {}
    for hit in hits:
        wanted.setdefault(hit.conversation_id, []).extend(hit.message_ids)
    with database.transaction(read_only=True) as conn:
        return {(cid, t.external_id): t for cid, ids in wanted.items() for t in conv_sql.turns_by_ids(conn, cid, ids)}
