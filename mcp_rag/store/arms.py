"""SQL for search: the BM25 and vector arms under a search's filters, the query's
BM25 statistics, and what the fused top hits show. Statements go through
`driver.fetch` (psycopg's placeholders, binary vectors)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

import numpy as np
from pgvector import SparseVector
from sqlalchemy.engine import Connection

from mcp_rag.models import SearchFilters
from mcp_rag.search import bm25, fusion, terms
from mcp_rag.search.candidates import Candidate
from mcp_rag.store import driver


def filter_sql(namespace: str, filters: SearchFilters, conversation_id: UUID | None) -> tuple[str, dict[str, Any]]:
    """The WHERE clauses of a search's filters over chunks `c` (or chunk_terms), in
    psycopg's placeholder style (`driver.fetch`), and their parameters."""
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
    _, rows = driver.fetch(
        conn,
        "SELECT NULL, chunks FROM corpus_stats WHERE namespace = %(ns)s "
        "UNION ALL SELECT term, df FROM term_stats WHERE namespace = %(ns)s AND term = ANY(%(ids)s::integer[])",
        {"ns": namespace, "ids": sorted(counts)},
    )
    docs = next((int(n) for term, n in rows if term is None), 0)
    dfs = {term: int(n) for term, n in rows if term is not None}
    return bm25.query_weights(counts, dfs, docs), dfs, docs


# The columns of a search candidate that fusion needs; what a hit shows is read
# afterwards for the final top k only (`shown`).
_CANDIDATE = "arm.rank, c.id, c.conversation_id, c.first_seq, c.last_seq, c.authors"


def _candidates(conn: Connection, ranked_ids: str, params: dict[str, Any], extra: str = "") -> list[Candidate]:
    """The rows of an arm's ranked ids (a subquery selecting `id`, `rank`, and any
    `extra` columns of its own), best first."""
    keys, rows = driver.fetch(
        conn,
        f"SELECT {_CANDIDATE}{extra} FROM ({ranked_ids}) arm JOIN chunks c ON c.id = arm.id ORDER BY arm.rank",
        params,
    )
    return [cast(Candidate, dict(zip(keys, row, strict=True))) for row in rows]


def shown(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What a hit shows of the chunks `ids` (the fused top k), by chunk id.

    Reading these wide columns (text, message ids, the conversation's title)
    for the ~120 candidates of both arms would cost about as much as an arm,
    most of it in the client; the fused top k is all a search returns.

    Each chunk's conversation is looked up by its key (LATERAL, kept from being
    flattened into a join by OFFSET 0): as a join, the planner hashes the whole
    conversations table for ten rows, a cost that grows with the number of
    conversations."""
    keys, rows = driver.fetch(
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
) -> list[Candidate]:
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
    where, params = filter_sql(namespace, filters, conversation_id)
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
    _, rows = driver.fetch(
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
# range). With time filters they meet near K ~ 560 at 100k chunks and K ~ 1,050 at
# 1M (docs/design/exact-vs-graph-ranking.md); 600 keeps exact ranking to where it
# wins at both sizes.
EXACT_RANKING_K = 600

# What reading one match that lies with the others (a time range) costs in the
# planner's units, about 1.6-1.9. Matches scattered one to a page (an author's
# turns) cost ~3.1 each and are no faster to rank exactly than through the graph
# at 1M chunks: comparing the planner's cost rather than its row count leaves
# those to the graph.
MATCH_COST = 2.0


def ranks_exactly(
    conn: Connection, namespace: str, filters: SearchFilters, conversation_id: UUID | None, table_rows: float
) -> bool:
    """Whether `vector_arm` should rank the filter's matches exactly instead of walking the
    HNSW graph: when an index finds them and reading them costs the planner no more than
    reading sqrt(EXACT_RANKING_K * table_rows) matches that lie together (above).

    PostgreSQL's planner makes this choice itself, but it prices the graph walk
    as if a filter cost it nothing: for a narrow time range at 1M chunks it walks
    the graph at about ten times the cost of ranking the matches exactly. Its own
    estimate (EXPLAIN: planning only, well under a millisecond) gives the cost of reading the
    matches and the plan that finds them; `table_rows` is the table's row count
    as of its last ANALYZE (`tune_vector_scan`), and without one the planner
    decides. So it does for unfiltered and single-conversation searches, and
    for filters no index serves (a source, a role: every chunk would be read)."""
    indexed = (filters.since, filters.until, filters.author, filters.metadata)
    if conversation_id is not None or all(f is None for f in indexed) or table_rows <= 0:
        return False
    where, params = filter_sql(namespace, filters, None)
    _, rows = driver.fetch(conn, f"EXPLAIN (FORMAT JSON) SELECT c.embedding FROM chunks c WHERE {where}", params)
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
) -> list[Candidate]:
    """The vector arm (HNSW, cosine): the nearest chunks' rows, best first (`rank` 1, 2, ...).

    Filters sit inside its WHERE clause; with pgvector's iterative index scans
    (`tune_vector_scan`) a selective filter still yields a full arm instead of
    a thin one. `exact` (see `ranks_exactly`) ranks every match instead: the
    ORDER BY is then an expression the HNSW index cannot serve, and PostgreSQL
    finds the matches through their own index. See mcp_rag/search/fusion.py for
    how the two arms combine.
    """
    dim = int(dimension)
    where, params = filter_sql(namespace, filters, conversation_id)
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
