"""SQL for chunks: writing them, the vector index, and the hybrid search query."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from mcp_rag.chunking import ChunkDraft
from mcp_rag.models import SearchFilters

# Each arm contributes this many candidates to fusion. Capping both arms at the
# same depth keeps one arm's long tail from drowning the other's top results.
ARM_DEPTH = 60
RRF_K = 60


def index_name(dimension: int) -> str:
    return f"chunks_embedding_hnsw_{int(dimension)}"


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
        text("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'chunks_embedding_hnsw_%'")
    ).scalars()
    for name in list(names):
        conn.execute(text(f'DROP INDEX IF EXISTS "{name}"'))


def last_chunk_start(conn: Connection, conversation_id: UUID) -> int | None:
    return conn.execute(
        text("SELECT max(first_seq) FROM chunks WHERE conversation_id = :id"),
        {"id": conversation_id},
    ).scalar()


def delete_from(conn: Connection, conversation_id: UUID, first_seq: int) -> None:
    conn.execute(
        text("DELETE FROM chunks WHERE conversation_id = :id AND first_seq >= :seq"),
        {"id": conversation_id, "seq": first_seq},
    )


def insert(
    conn: Connection,
    conversation_id: UUID,
    namespace: str,
    source: str | None,
    drafts: Sequence[ChunkDraft],
    vectors: np.ndarray,
) -> None:
    if not drafts:
        return
    stmt = text(
        """
        INSERT INTO chunks (conversation_id, namespace, source, first_seq, last_seq, message_ids,
                            authors, roles, started_at, ended_at, text, embedding)
        VALUES (:cid, :ns, :source, :first, :last, :mids, :authors, :roles, :start, :end,
                :text, :embedding)
        """
    ).bindparams(bindparam("embedding", type_=Vector()))
    conn.execute(
        stmt,
        [
            {
                "cid": conversation_id,
                "ns": namespace,
                "source": source,
                "first": d.first_seq,
                "last": d.last_seq,
                "mids": d.message_ids,
                "authors": d.authors,
                "roles": d.roles,
                "start": d.started_at,
                "end": d.ended_at,
                "text": d.text,
                "embedding": v,
            }
            for d, v in zip(drafts, vectors, strict=True)
        ],
    )


def _filter_sql(namespace: str, filters: SearchFilters, conversation_id: UUID | None):
    clauses = ["c.namespace = :ns"]
    params: dict[str, Any] = {"ns": namespace}
    if conversation_id is not None:
        clauses.append("c.conversation_id = :cid")
        params["cid"] = conversation_id
    if filters.author:
        clauses.append("c.authors @> ARRAY[CAST(:author AS text)]")
        params["author"] = filters.author
    if filters.role:
        clauses.append("c.roles @> ARRAY[CAST(:role AS text)]")
        params["role"] = filters.role
    if filters.source:
        clauses.append("c.source = :source")
        params["source"] = filters.source
    if filters.since:
        clauses.append("c.ended_at >= :since")
        params["since"] = filters.since
    if filters.until:
        clauses.append("c.started_at <= :until")
        params["until"] = filters.until
    if filters.metadata:
        clauses.append(
            "c.conversation_id IN (SELECT id FROM conversations "
            "WHERE namespace = :ns AND metadata @> CAST(:meta AS jsonb))"
        )
        params["meta"] = json.dumps(filters.metadata)
    return " AND ".join(clauses), params


def hybrid_search(
    conn: Connection,
    namespace: str,
    query: str,
    query_vector: np.ndarray,
    dimension: int,
    filters: SearchFilters,
    conversation_id: UUID | None,
    top_k: int,
) -> list[dict]:
    """Vector arm (HNSW, cosine) and full-text arm (GIN), fused by reciprocal rank.

    Filters sit inside both arms' WHERE clauses; with pgvector's iterative index
    scans a selective filter still yields a full top-k instead of a thin one.
    """
    dim = int(dimension)
    where, params = _filter_sql(namespace, filters, conversation_id)
    depth = max(ARM_DEPTH, top_k)
    conn.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    conn.execute(text(f"SET LOCAL hnsw.ef_search = {max(100, depth)}"))
    sql = f"""
        WITH q AS (
            SELECT to_tsquery('simple', coalesce(array_to_string(ARRAY(
                SELECT quote_literal(lexeme)
                FROM unnest(tsvector_to_array(to_tsvector('english', :query))) AS lexeme
            ), ' | '), '')) AS tsq
        ),
        vec AS (
            SELECT id, row_number() OVER (ORDER BY dist) AS rank
            FROM (
                SELECT c.id, c.embedding::vector({dim}) <=> :qvec AS dist
                FROM chunks c WHERE {where}
                ORDER BY c.embedding::vector({dim}) <=> :qvec LIMIT :depth
            ) v
        ),
        lex AS (
            SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank
            FROM (
                SELECT c.id, ts_rank_cd(c.tsv, q.tsq, 1) AS score
                FROM chunks c, q WHERE c.tsv @@ q.tsq AND {where}
                ORDER BY score DESC, c.id LIMIT :depth
            ) l
        ),
        fused AS (
            SELECT id, coalesce(1.0 / ({RRF_K} + vec.rank), 0)
                     + coalesce(1.0 / ({RRF_K} + lex.rank), 0) AS score
            FROM vec FULL OUTER JOIN lex USING (id)
        )
        SELECT c.conversation_id, conv.external_id AS conversation_external_id, conv.title,
               conv.source, c.message_ids, c.text, c.authors, c.started_at, c.ended_at,
               f.score
        FROM fused f JOIN chunks c ON c.id = f.id JOIN conversations conv ON conv.id = c.conversation_id
        ORDER BY f.score DESC, c.conversation_id, c.first_seq
        LIMIT :top_k
    """
    stmt = text(sql).bindparams(bindparam("qvec", type_=Vector()))
    params.update(query=query, qvec=query_vector, depth=depth, top_k=top_k)
    return [dict(r) for r in conn.execute(stmt, params).mappings()]


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
