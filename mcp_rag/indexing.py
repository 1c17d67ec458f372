"""The index's upkeep: the embedding model it was built with (recorded on first
use, never mixed with another), re-embedding every chunk, and compacting the
chunk tables."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

from mcp_rag.config import Settings
from mcp_rag.embed import Embedder
from mcp_rag.errors import Conflict, Invalid
from mcp_rag.store import chunks as chunk_sql
from mcp_rag.store import vector_index
from mcp_rag.store import windows as window_sql
from mcp_rag.store.db import Database

# A size as PostgreSQL reads it in a setting: 512MB, 2GB (`compact`).
_MEMORY = re.compile(r"[1-9][0-9]*(kB|MB|GB|TB)")


def check_model(database: Database, embedder: Embedder) -> None:
    """Record the embedding model if none is; refuse to mix vectors of two models."""
    with database.transaction() as conn:
        vector_index.lock_model_registration(conn)
        current = vector_index.registered_model(conn)
        if current is None:
            vector_index.register_model(conn, embedder.name, embedder.dimension)
        elif current != (embedder.name, embedder.dimension):
            raise Conflict(
                f"the index was built with {current[0]} ({current[1]} dims) but the "
                f"configured model is {embedder.name}; run `mcp-rag reindex`"
            )
        vector_index.ensure_vector_index(conn, embedder.dimension)


def reindex(
    database: Database,
    embedder: Embedder,
    settings: Settings,
    progress: Callable[[int, int], None] | None,
    batch: int,
) -> int:
    """Re-embed every chunk with `embedder` and rebuild the vector index; the chunks done."""
    with database.transaction() as conn:
        total = chunk_sql.count(conn)
        vector_index.drop_vector_indexes(conn)
        vector_index.register_model(conn, embedder.name, embedder.dimension)
    done, after = 0, 0
    while True:
        with database.transaction() as conn:
            rows = vector_index.all_for_reindex(conn, after, batch)
            if not rows:
                break
            ids = [r[0] for r in rows]
            vector_index.set_embeddings(conn, ids, embedder.embed([r[1] for r in rows]))
        after = ids[-1]
        done += len(ids)
        if progress:
            progress(done, total)
    with database.transaction() as conn:
        vector_index.ensure_vector_index(conn, embedder.dimension)
        if settings.window_arm:  # conversations stored while the arm was off get their windows
            window_sql.rebuild(conn)
    return done


def rebuild_windows(database: Database, settings: Settings) -> int:
    """Rewrite every conversation's windows of the window arm from the chunks as stored,
    without re-embedding (`mcp-rag reindex --windows`); the number written."""
    if not settings.window_arm:
        raise Invalid("the window arm is off (MCP_RAG_WINDOW_ARM=false): there are no windows to write")
    with database.transaction() as conn:
        return window_sql.rebuild(conn)


def compact(database: Database, memory: str | None, starting: Callable[[], None] | None) -> dict[str, Any]:
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
    with database.connection() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        before = vector_index.table_bytes(conn)
        memory = memory or f"{max(64, math.ceil(vector_index.vector_index_bytes(conn) * 1.25 / 2**20))}MB"
        vector_index.compact(conn, memory)
        after = vector_index.table_bytes(conn)
    return {
        "bytes_before": before,
        "bytes_after": after,
        "maintenance_work_mem": memory,
        "seconds": round(time.perf_counter() - started, 1),
    }
