"""Prometheus metrics: defined once here, observed where the work happens.

A metric that is defined but never updated is a defect: each one below is
observed by the code path named in its help text.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import Counter, Gauge, Histogram, Info

from mcp_rag import __version__

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import QueuePool

    from mcp_rag.embed import Embedder

LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

build_info = Info("mcp_rag_build", "Version of the running mcp-rag")
build_info.info({"version": __version__})

http_requests = Counter(
    "mcp_rag_http_requests_total", "HTTP requests by route template and status", ["method", "route", "status"]
)
http_latency = Histogram(
    "mcp_rag_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    buckets=LATENCY,
)
mcp_tool_calls = Counter("mcp_rag_mcp_tool_calls_total", "MCP tool calls by tool and outcome", ["tool", "outcome"])
mcp_tool_latency = Histogram("mcp_rag_mcp_tool_duration_seconds", "MCP tool latency", ["tool"], buckets=LATENCY)

ingested_conversations = Counter("mcp_rag_ingest_conversations_total", "Conversations written by ingest")
ingested_messages = Counter("mcp_rag_ingest_messages_total", "Messages added by ingest")
ingested_chunks = Counter("mcp_rag_ingest_chunks_total", "Chunks written by ingest")
ingest_latency = Histogram("mcp_rag_ingest_duration_seconds", "Time to ingest one conversation", buckets=LATENCY)
search_latency = Histogram("mcp_rag_search_duration_seconds", "Service search latency", buckets=LATENCY)
ask_latency = Histogram("mcp_rag_ask_duration_seconds", "Service ask latency (retrieve + answer)", buckets=LATENCY)

embedding_batch = Histogram(
    "mcp_rag_embedding_batch_size", "Texts per embedding call", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)
)
embedding_latency = Histogram("mcp_rag_embedding_duration_seconds", "Embedding call latency", buckets=LATENCY)

llm_requests = Counter("mcp_rag_llm_requests_total", "LLM requests by provider and outcome", ["provider", "outcome"])
llm_tokens = Counter("mcp_rag_llm_tokens_total", "LLM tokens by provider and kind", ["provider", "kind"])
llm_latency = Histogram("mcp_rag_llm_request_duration_seconds", "LLM request latency", ["provider"], buckets=LATENCY)

db_query_latency = Histogram("mcp_rag_db_query_duration_seconds", "SQL statement latency", buckets=LATENCY)
db_pool_in_use = Gauge("mcp_rag_db_pool_connections_in_use", "Database connections checked out of the pool")
db_pool_size = Gauge("mcp_rag_db_pool_size", "Database pool capacity (size + overflow)")


@contextmanager
def timed(histogram: Histogram) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        histogram.observe(time.perf_counter() - started)


def instrument_engine(engine: Engine) -> None:
    """Observe statement latency and pool usage for a SQLAlchemy engine."""
    from sqlalchemy import event

    from mcp_rag.tracing import tracer

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        span = tracer.start_span(
            "sql", attributes={"db.system": "postgresql", "db.operation": statement.split(None, 1)[0]}
        )
        conn.info.setdefault("mcp_rag_t0", []).append((time.perf_counter(), span))

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        stack = conn.info.get("mcp_rag_t0")
        if stack:
            started, span = stack.pop()
            db_query_latency.observe(time.perf_counter() - started)
            span.end()

    pool = cast("QueuePool", engine.pool)  # store.db.make_engine pools with a QueuePool
    db_pool_size.set(pool.size() + getattr(pool, "_max_overflow", 0))

    @event.listens_for(engine, "checkout")
    def _checkout(*_):
        db_pool_in_use.inc()

    @event.listens_for(engine, "checkin")
    def _checkin(*_):
        db_pool_in_use.dec()


class ObservedEmbedder:
    """Wraps any embedder to record batch sizes and latency; forwards the rest."""

    def __init__(self, inner: Embedder):
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed(self, texts: list[str]) -> np.ndarray:
        from mcp_rag.tracing import tracer

        embedding_batch.observe(len(texts))
        with tracer.start_as_current_span("embed", attributes={"embed.texts": len(texts)}), timed(embedding_latency):
            return self._inner.embed(texts)
