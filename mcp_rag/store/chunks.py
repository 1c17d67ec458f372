"""SQL for chunks: writing them, the vector index, and the two search arms."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import numpy as np
from pgvector import SparseVector
from pgvector.sqlalchemy import Vector
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from mcp_rag.chunking import ChunkDraft
from mcp_rag.models import SearchFilters
from mcp_rag.search import bm25, fusion, terms

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


# The tables `compact` rewrites: the chunks and their narrow BM25 copy (migration 0005).
COMPACTED = ("chunks", "chunk_terms")


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


def last_chunk_start(conn: Connection, conversation_id: UUID) -> int | None:
    return conn.execute(
        text("SELECT max(first_seq) FROM chunks WHERE conversation_id = :id"),
        {"id": conversation_id},
    ).scalar()


def redo_start(conn: Connection, conversation_id: UUID, context: int) -> int:
    """First seq to re-chunk after an append: the last chunk, and every chunk whose
    indexed neighbours (`context` turns after it) did not exist yet."""
    seq = conn.execute(
        text(
            """
            SELECT min(first_seq) FROM chunks
            WHERE conversation_id = :id
              AND last_seq > (SELECT max(last_seq) FROM chunks WHERE conversation_id = :id) - :context
            """
        ),
        {"id": conversation_id, "context": max(context, 1)},
    ).scalar()
    return seq or 1


def lock_term_stats(conn: Connection, namespace: str) -> None:
    """Serialise writers of a namespace's BM25 statistics until the transaction ends.

    The triggers that keep term_stats exact run once per statement; a transaction
    that writes several chunks locks shared term rows over several statements, so
    two concurrent ingests could lock them in opposite orders and deadlock."""
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"\x1eterm_stats\x1f{namespace}"},
    )


def delete_from(conn: Connection, conversation_id: UUID, first_seq: int) -> None:
    conn.execute(
        text("DELETE FROM chunks WHERE conversation_id = :id AND first_seq >= :seq"),
        {"id": conversation_id, "seq": first_seq},
    )


def corpus_stats(conn: Connection, namespace: str) -> tuple[int, int]:
    """(chunks, total terms) in a namespace, kept exact by triggers (migration 0003)."""
    row = conn.execute(text("SELECT chunks, terms FROM corpus_stats WHERE namespace = :ns"), {"ns": namespace}).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _lexical(drafts: Sequence[ChunkDraft], chunks: int, total_terms: int) -> list[tuple[list[int], int, SparseVector]]:
    """Each chunk's distinct term ids, length, and BM25 document vector.

    BM25 counts the chunk's own turns only: neighbouring turns help the
    embedding but, weighted like the turn itself, they made BM25 worse.
    """
    counts = [terms.term_counts(d.text) for d in drafts]
    new_terms = sum(sum(c.values()) for c in counts)
    avgdl = (total_terms + new_terms) / max(chunks + len(drafts), 1)
    return [(sorted(c), sum(c.values()), SparseVector(bm25.document_weights(c, avgdl), terms.SPACE)) for c in counts]


def insert(
    conn: Connection,
    conversation_id: UUID,
    namespace: str,
    source: str | None,
    drafts: Sequence[ChunkDraft],
    vectors: np.ndarray,
) -> None:
    """Write a conversation's chunks in one binary COPY.

    One statement, so the statistics and chunk_terms triggers run once with
    every new row in their transition table; an INSERT per chunk ran them per
    chunk, updating the namespace's corpus_stats row (and the shared term_stats
    rows) once per chunk inside one transaction. Binary also skips formatting
    384 floats a chunk as text.
    """
    if not drafts:
        return
    lexical = _lexical(drafts, *corpus_stats(conn, namespace))
    rows = [
        (conversation_id, namespace, source, d.first_seq, d.last_seq, d.message_ids, d.authors, d.roles,
         d.started_at, d.ended_at, d.text, v, ids, n, sparse)
        for d, v, (ids, n, sparse) in zip(drafts, vectors, lexical, strict=True)
    ]  # fmt: skip
    _copy_rows(conn, rows)


def _filter_sql(namespace: str, filters: SearchFilters, conversation_id: UUID | None):
    """The WHERE clauses of a search's filters over chunks `c` (or chunk_terms), in
    psycopg's placeholder style (`_fetch`), and their parameters."""
    clauses = ["c.namespace = %(ns)s"]
    params: dict[str, Any] = {"ns": namespace}
    if conversation_id is not None:
        clauses.append("c.conversation_id = %(cid)s")
        params["cid"] = conversation_id
    if filters.author:
        clauses.append("c.authors && CAST(%(authors)s AS text[])")
        params["authors"] = filters.author_names()
    if filters.role:
        clauses.append("c.roles @> ARRAY[CAST(%(role)s AS text)]")
        params["role"] = filters.role
    if filters.source:
        clauses.append("c.source = %(source)s")
        params["source"] = filters.source
    if filters.since:
        clauses.append("c.ended_at >= %(since)s")
        params["since"] = filters.since
    if filters.until:
        clauses.append("c.started_at <= %(until)s")
        params["until"] = filters.until
    if filters.metadata:
        clauses.append(
            "c.conversation_id IN (SELECT id FROM conversations "
            "WHERE namespace = %(ns)s AND metadata @> CAST(%(meta)s AS jsonb))"
        )
        params["meta"] = json.dumps(filters.metadata)
    return " AND ".join(clauses), params


def _depth(top_k: int) -> int:
    return max(fusion.ARM_DEPTH, top_k)


def query_terms(conn: Connection, namespace: str, query: str) -> tuple[dict[int, float], dict[int, int], int]:
    """The query's BM25 idf weights against the namespace's statistics, the terms'
    document frequencies, and the namespace's number of chunks."""
    counts = terms.term_counts(query)
    # One round trip for the corpus size and the terms' document frequencies (both on every search).
    _, rows = _fetch(
        conn,
        "SELECT NULL, chunks FROM corpus_stats WHERE namespace = %(ns)s "
        "UNION ALL SELECT term, df FROM term_stats WHERE namespace = %(ns)s AND term = ANY(%(ids)s::integer[])",
        {"ns": namespace, "ids": sorted(counts)},
    )
    docs = next((int(n) for term, n in rows if term is None), 0)
    dfs = {term: int(n) for term, n in rows if term is not None}
    return bm25.query_weights(counts, dfs, docs), dfs, docs


def _fetch(conn: Connection, sql: str, params: dict) -> tuple[list[str], list[tuple]]:
    """Run one of a search's statements on `conn`'s own psycopg connection, inside its
    transaction: column names and rows. Placeholders are psycopg's (`%(name)s`).

    Search's statements bypass SQLAlchemy's `text()`: compiling the statement on
    every call and pgvector's `Vector` type formatting the query vector as text
    cost ~1.5 ms of a 2.5 ms vector arm at 100k chunks (docs/PERFORMANCE.md).
    Here vectors are sent in pgvector's binary format."""
    with _cursor(conn, sql) as cur:
        cur.execute(sql, params)  # always a SELECT
        return [d.name for d in cur.description], cur.fetchall()


@contextmanager
def _cursor(conn: Connection, sql: str) -> Iterator[Any]:
    """A psycopg cursor on `conn`'s connection, inside its transaction, with pgvector's
    binary dumpers. psycopg's errors are raised as SQLAlchemy's, as `conn.execute`
    would, so the service maps them the same way (bad value → Invalid, deadlock → retried)."""
    import psycopg
    from sqlalchemy.exc import DBAPIError

    raw = conn.connection.driver_connection
    try:
        _register_vector_types(raw, conn.connection.info)
        with raw.cursor() as cur:
            yield cur
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


# The columns of a search candidate that fusion needs; what a hit shows is read
# afterwards for the final top k only (`shown`).
_CANDIDATE = "arm.rank, c.id, c.conversation_id, c.first_seq, c.last_seq, c.authors"


def _candidates(conn: Connection, ranked_ids: str, params: dict, extra: str = "") -> list[dict]:
    """The rows of an arm's ranked ids (a subquery selecting `id`, `rank`, and any
    `extra` columns of its own), best first."""
    keys, rows = _fetch(
        conn,
        f"SELECT {_CANDIDATE}{extra} FROM ({ranked_ids}) arm JOIN chunks c ON c.id = arm.id ORDER BY arm.rank",
        params,
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]


def shown(conn: Connection, ids: Sequence[int]) -> dict[int, dict]:
    """What a hit shows of the chunks `ids` (the fused top k), by chunk id.

    Reading these wide columns (text, message ids, the conversation's title)
    for the ~120 candidates of both arms cost ~2 ms per arm at 100k chunks,
    most of it in the client; the fused top k is all a search returns.

    Each chunk's conversation is looked up by its key (LATERAL, kept from being
    flattened into a join by OFFSET 0): as a join, the planner hashed the whole
    conversations table for ten rows (0.4 ms at 1,000 conversations, growing
    with their number; 0.08 ms this way)."""
    keys, rows = _fetch(
        conn,
        """
        SELECT c.id, conv.external_id AS conversation_external_id, conv.title, conv.source,
               c.message_ids, c.text, c.started_at, c.ended_at
        FROM chunks c CROSS JOIN LATERAL (
            SELECT external_id, title, source FROM conversations WHERE id = c.conversation_id OFFSET 0
        ) conv
        WHERE c.id = ANY(%(ids)s::bigint[])
        """,
        {"ids": list(ids)},
    )
    return {row[0]: dict(zip(keys[1:], row[1:], strict=True)) for row in rows}


def lexical_arm(
    conn: Connection,
    namespace: str,
    query: str,
    filters: SearchFilters,
    conversation_id: UUID | None,
    top_k: int,
    candidate_budget: int,
) -> list[dict]:
    """The BM25 arm: the best-scoring chunks' rows, best first (`rank` 1, 2, ...).

    It scores the chunks that share a term with the query, found through the
    GIN index on chunk_terms (a narrow copy of the lexical and filter columns,
    migration 0005), so it never reads the wide chunks rows but the ones it
    returns. Past `candidate_budget` such chunks in the namespace, only those
    holding the query's rarest terms are scored, or, when the rarest term alone
    is past it, those holding the rarest terms together (bm25.candidate_terms);
    their scores stay exact BM25 over every query term. A short arm is fine:
    the vector arm fills the fused pool, filters or not. Inside one
    conversation BM25 is always exact: the conversation index (migration 0006)
    bounds the work instead.
    """
    weights, dfs, docs = query_terms(conn, namespace, query)
    if not weights:
        return []
    where, params = _filter_sql(namespace, filters, conversation_id)
    budget = 0 if conversation_id is not None else candidate_budget
    chosen, all_of = bm25.candidate_terms(weights, dfs, budget, docs)
    # GIN answers both: && (holds any of the terms) and @> (holds all of them).
    ranked = f"""
        SELECT id, row_number() OVER (ORDER BY score, id) AS rank FROM (
            SELECT c.chunk_id AS id, c.bm25 <#> %(qsparse)s AS score FROM chunk_terms c
            WHERE c.terms {"@>" if all_of else "&&"} CAST(%(qterms)s AS integer[]) AND {where}
            ORDER BY c.bm25 <#> %(qsparse)s, c.chunk_id LIMIT %(depth)s
        ) lex
    """
    params.update(qsparse=SparseVector(weights, terms.SPACE), depth=_depth(top_k), qterms=chosen)
    return _candidates(conn, ranked, params)


def tune_vector_scan(conn: Connection, top_k: int) -> float:
    """pgvector's scan settings for this transaction (SET LOCAL), before `vector_arm`:
    iterative scans, so that a selective filter still fills the arm, and an
    ef_search that covers the arm's depth. A separate round trip, so the search
    sends it while the query is still being embedded. It also returns the chunks
    table's row count as of its last ANALYZE (-1 before one; `ranks_exactly`)."""
    _, rows = _fetch(
        conn,
        "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', %(ef)s, true),"
        " (SELECT reltuples FROM pg_class WHERE oid = 'chunks'::regclass)",
        {"ef": str(max(100, _depth(top_k)))},
    )
    return rows[0][2]


# Ranking a filter's M matches exactly reads each of them once; walking the HNSW
# graph under a filter that keeps a share s = M/N of the N chunks scans about
# (arm depth)/s of them before the arm is full, so it costs in proportion to N/M.
# The two meet at M = sqrt(EXACT_RANKING_K * N) matches that lie together (a time
# range). Measured where they meet (benchmarks, time filters): 7,500 matches of
# 100k chunks (K ~ 560) and ~32,000 of 1M (K ~ 1,050); the smaller K keeps exact
# ranking to where it won at both.
EXACT_RANKING_K = 600
# What reading one such match costs in the planner's units: 1.6-1.9 for time
# ranges at 100k and 1M chunks. Matches scattered one to a page (an author's
# turns) cost ~3.1 each, and at 1M they were no faster to rank exactly than
# through the graph (92-212 vs 111-121 ms for 18,500 of them): comparing the
# planner's cost rather than its row count leaves those to the graph.
MATCH_COST = 2.0


def ranks_exactly(
    conn: Connection, namespace: str, filters: SearchFilters, conversation_id: UUID | None, table_rows: float
) -> bool:
    """Whether `vector_arm` should rank the filter's matches exactly instead of walking the
    HNSW graph: when an index finds them and reading them costs the planner no more than
    reading sqrt(EXACT_RANKING_K * table_rows) matches that lie together (above).

    PostgreSQL's planner makes this choice itself, but it prices the graph walk
    as if a filter cost it nothing: at 1M chunks it walked the graph for the last
    1% of time (208 ms) where ranking the 9,700 matches took 20 ms. Its own
    estimate (EXPLAIN: planning only, ~0.5 ms) gives the cost of reading the
    matches and the plan that finds them; `table_rows` is the table's row count
    as of its last ANALYZE (`tune_vector_scan`), and without one the planner
    decides. So it does for unfiltered and single-conversation searches, and
    for filters no index serves (a source, a role: every chunk would be read)."""
    indexed = (filters.since, filters.until, filters.author, filters.metadata)
    if conversation_id is not None or all(f is None for f in indexed) or table_rows <= 0:
        return False
    where, params = _filter_sql(namespace, filters, None)
    _, rows = _fetch(conn, f"EXPLAIN (FORMAT JSON) SELECT c.embedding FROM chunks c WHERE {where}", params)
    plan = rows[0][0][0]["Plan"]
    budget = MATCH_COST * math.sqrt(EXACT_RANKING_K * table_rows)
    return plan["Total Cost"] <= budget and not _reads_every_chunk(plan)


def _reads_every_chunk(plan: dict) -> bool:
    """Whether an EXPLAIN plan scans the whole chunks table (no index finds the matches)."""
    if plan["Node Type"] == "Seq Scan" and plan.get("Relation Name") == "chunks":
        return True
    return any(_reads_every_chunk(child) for child in plan.get("Plans", ()))


def vector_arm(
    conn: Connection,
    namespace: str,
    query_vector: np.ndarray,
    dimension: int,
    filters: SearchFilters,
    conversation_id: UUID | None,
    top_k: int,
    exact: bool = False,
) -> list[dict]:
    """The vector arm (HNSW, cosine): the nearest chunks' rows, best first (`rank` 1, 2, ...).

    Filters sit inside its WHERE clause; with pgvector's iterative index scans
    (`tune_vector_scan`) a selective filter still yields a full arm instead of
    a thin one. `exact` (see `ranks_exactly`) ranks every match instead: the
    ORDER BY is then an expression the HNSW index cannot serve, and PostgreSQL
    finds the matches through their own index. See mcp_rag/search/fusion.py for
    how the two arms combine.
    """
    dim = int(dimension)
    where, params = _filter_sql(namespace, filters, conversation_id)
    distance = f"c.embedding::vector({dim}) <=> %(qvec)s"
    order = f"({distance}) + 0" if exact else distance
    ranked = f"""
        SELECT id, dist, row_number() OVER (ORDER BY dist, id) AS rank FROM (
            SELECT c.id, {distance} AS dist
            FROM chunks c WHERE {where}
            ORDER BY {order} LIMIT %(depth)s
        ) vec
    """
    params.update(qvec=np.asarray(query_vector, dtype=np.float32), depth=_depth(top_k))
    # The cosine distance rides along: search.relevance turns it into a hit's `match`.
    return _candidates(conn, ranked, params, ", arm.dist")


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


# A chunk row as binary COPY writes it: `insert` here, and the bulk load of benchmarks/bench_search.py.
COPY_SQL = (
    "COPY chunks (conversation_id, namespace, source, first_seq, last_seq, message_ids, authors, roles, "
    "started_at, ended_at, text, embedding, terms, n_terms, bm25) FROM STDIN WITH (FORMAT BINARY)"
)
COPY_TYPES = ["uuid", "text", "text", "int4", "int4", "text[]", "text[]", "text[]"]
COPY_TYPES += ["timestamptz", "timestamptz", "text", "vector", "int4[]", "int4", "sparsevec"]


def _copy_rows(conn: Connection, rows: list[tuple]) -> None:
    """COPY rows (in COPY_SQL's column order) into chunks, inside `conn`'s transaction."""
    with _cursor(conn, COPY_SQL) as cur, cur.copy(COPY_SQL) as copy:
        copy.set_types(COPY_TYPES)
        for row in rows:
            copy.write_row(row)


def _register_vector_types(connection, connection_info: dict) -> None:
    """pgvector's dumpers (numpy arrays → vector, SparseVector → sparsevec; binary
    when psycopg may choose), registered once per pooled connection. Only dumpers:
    values SQLAlchemy binds through its `Vector` type are already text, and
    vectors read back keep the loaders SQLAlchemy expects. Registering them on
    each cursor instead cost ~0.4 ms a statement."""
    if connection_info.get("pgvector_dumpers"):
        return
    from pgvector.psycopg.sparsevec import SparseVectorBinaryDumper, SparseVectorDumper
    from pgvector.psycopg.vector import VectorBinaryDumper, VectorDumper
    from psycopg.types import TypeInfo

    for name, python_type, dumpers in (
        ("vector", "numpy.ndarray", (VectorDumper, VectorBinaryDumper)),
        ("sparsevec", SparseVector, (SparseVectorDumper, SparseVectorBinaryDumper)),
    ):
        info = TypeInfo.fetch(connection, name)
        info.register(connection)  # COPY's set_types finds the type by name
        for dumper in dumpers:  # the binary one last: psycopg's default choice
            connection.adapters.register_dumper(python_type, type("", (dumper,), {"oid": info.oid}))
    connection_info["pgvector_dumpers"] = True
