"""SQL for the vector index's upkeep: the embedding model the chunks were embedded
with, the HNSW index per dimension, re-embedding, and compacting the chunk tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

# Each dimension's HNSW index is named VECTOR_INDEX + dimension (`ensure_vector_index`).
VECTOR_INDEX = "chunks_embedding_hnsw_"


def index_name(dimension: int) -> str:
    return f"{VECTOR_INDEX}{int(dimension)}"


def registered_model(conn: Connection) -> tuple[str, int] | None:
    row = conn.execute(text("SELECT name, dimension FROM embedding_models WHERE id = 1")).first()
    return (row[0], row[1]) if row else None


def register_model(conn: Connection, name: str, dimension: int) -> None:
    conn.execute(
        text(
            """
            INSERT INTO embedding_models (id, name, dimension) VALUES (1, :name, :dim)
            ON CONFLICT (id) DO UPDATE SET name = :name, dimension = :dim, updated_at = now()
            """
        ),
        {"name": name, "dim": dimension},
    )


def lock_model_registration(conn: Connection) -> None:
    """Serialise the first writers that record the embedding model, until the transaction ends."""
    conn.execute(text("SELECT pg_advisory_xact_lock(7428001)"))


def ensure_vector_index(conn: Connection, dimension: int) -> None:
    """HNSW (cosine) over the embedding cast to its dimension.

    The column is an untyped `vector` so that a model change needs no table
    rewrite; the index is an expression index on the typed cast, and queries
    use the same expression so the planner can use it.
    """
    dim = int(dimension)
    conn.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {index_name(dim)} ON chunks "
            f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
    )


def drop_vector_indexes(conn: Connection) -> None:
    names = conn.execute(
        text("SELECT indexname FROM pg_indexes WHERE starts_with(indexname, :prefix)"), {"prefix": VECTOR_INDEX}
    ).scalars()
    for name in list(names):
        conn.execute(text(f'DROP INDEX IF EXISTS "{name}"'))


def all_for_reindex(conn: Connection, after_id: int, limit: int) -> list[tuple[int, str]]:
    rows = conn.execute(
        text("SELECT id, text FROM chunks WHERE id > :after ORDER BY id LIMIT :limit"),
        {"after": after_id, "limit": limit},
    )
    return [(r[0], r[1]) for r in rows]


def set_embeddings(conn: Connection, ids: Sequence[int], vectors: np.ndarray) -> None:
    stmt = text("UPDATE chunks SET embedding = :embedding WHERE id = :id").bindparams(
        bindparam("embedding", type_=Vector())
    )
    conn.execute(stmt, [{"id": i, "embedding": v} for i, v in zip(ids, vectors, strict=True)])


# The tables `compact` rewrites: the chunks and their narrow copies for BM25 (migration 0005)
# and for filtered vector search (migration 0011).
COMPACTED = ("chunks", "chunk_terms", "chunk_bits")


def table_bytes(conn: Connection) -> int:
    """The bytes on disk of the compacted tables, with their TOAST tables and indexes."""
    sql = "SELECT sum(pg_total_relation_size(t)) FROM unnest(CAST(:t AS regclass[])) t"
    return int(conn.execute(text(sql), {"t": list(COMPACTED)}).scalar_one())


def vector_index_bytes(conn: Connection) -> int:
    """The bytes on disk of the HNSW indexes (`ensure_vector_index`)."""
    sql = (
        "SELECT coalesce(sum(pg_relation_size(format('%I.%I', schemaname, indexname))), 0) "
        "FROM pg_indexes WHERE starts_with(indexname, :prefix)"
    )
    return int(conn.execute(text(sql), {"prefix": VECTOR_INDEX}).scalar_one())


def compact(conn: Connection, memory: str) -> None:
    """Rewrite the chunk tables and rebuild their indexes (VACUUM FULL), with
    `memory` as maintenance_work_mem for the index builds; `conn` must be in
    autocommit. Rows take the current storage layout (embeddings in the row,
    migration 0007) and the space of deleted rows goes back to the file system."""
    conn.execute(text("SELECT set_config('maintenance_work_mem', :m, false)"), {"m": memory})
    try:
        for table in COMPACTED:
            conn.execute(text(f"VACUUM (FULL, ANALYZE) {table}"))
    finally:
        conn.execute(text("RESET maintenance_work_mem"))
