"""SQL for search: the BM25 and vector arms under a search's filters, the query's
BM25 statistics, and what the fused top hits show. Statements go through
`driver.fetch` (psycopg's placeholders, binary vectors)."""

from __future__ import annotations

import json
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
    iterative scans, so that a filter the graph walk serves still fills the arm,
    and an ef_search that covers the arm's depth. A separate round trip, so the
    search sends it while the query is still being embedded. It also returns
    chunk_bits' row count as of its last ANALYZE (-1 before one; `ranks_by_bits`)."""
    _, rows = driver.fetch(
        conn,
        "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', %(ef)s, true),"
        " (SELECT reltuples FROM pg_class WHERE oid = 'chunk_bits'::regclass)",
        {"ef": str(max(100, _depth(top_k)))},
    )
    return rows[0][2]


# Ranking a filter's matches by their sign bits (chunk_bits) reads each match's
# narrow row once, 0.3-1.4 us a match; walking the HNSW graph under a filter that keeps
# a share s of the chunks scans about (arm depth)/s of them through the wide chunks
# rows. Past this many rows read (an unindexed filter reads them all) the graph
# walk is the cheaper one (docs/design/exact-vs-graph-ranking.md).
BITS_MAX_ROWS = 60_000

# How many of the matches nearest by Hamming distance are re-ranked by their full
# vectors: the sign bits only shortlist, and the shortlist holds the true nearest
# 10 of REALTALK's filtered searches (docs/design/exact-vs-graph-ranking.md).
BITS_SHORTLIST = 400


def ranks_by_bits(
    conn: Connection, namespace: str, filters: SearchFilters, conversation_id: UUID | None, table_rows: float
) -> bool:
    """Whether `vector_arm` should rank the filter's matches by their sign bits
    (chunk_bits) instead of walking the HNSW graph: when the plan that finds them
    reads at most BITS_MAX_ROWS rows of chunk_bits.

    PostgreSQL's planner prices the graph walk as if a filter cost it nothing,
    so the rule asks it (EXPLAIN: planning only, well under a millisecond) how
    many rows finding the filter's matches reads: its estimate of the matches
    when an index finds them, the whole table when none does (a source, a role).
    `table_rows` is chunk_bits' row count as of its last ANALYZE
    (`tune_vector_scan`); without one the planner decides. So it does for
    unfiltered searches and searches in one conversation (an index finds its
    chunks in chunks itself)."""
    narrowing = (filters.author, filters.role, filters.source, filters.since, filters.until, filters.metadata)
    if conversation_id is not None or not any(narrowing) or table_rows <= 0:
        return False
    indexed = (filters.author, filters.since, filters.until, filters.metadata)
    if not any(indexed) and table_rows > BITS_MAX_ROWS:
        return False  # a source or a role alone: every row would be read
    matches, params = _bits_matches(namespace, filters, None)
    _, rows = driver.fetch(conn, f"EXPLAIN (FORMAT JSON) SELECT m.chunk_id FROM ({matches}) m", params)
    plan = rows[0][0][0]["Plan"]
    read = table_rows if _reads_every_row(plan) else plan["Plan Rows"]
    return read <= BITS_MAX_ROWS


# An author filter that matches up to this many stored names reads each name's chunks
# through the index on chunk_bits (namespace, authors); past it, through every row.
AUTHOR_BRANCHES = 50


def _bits_matches(namespace: str, filters: SearchFilters, conversation_id: UUID | None) -> tuple[str, dict[str, Any]]:
    """A SELECT of the chunk_bits rows (chunk_id, bits) the filters keep, and its parameters.

    A chunk of one author is found by equality on its authors, with its bits, in
    the index on (namespace, authors) alone (an index-only scan, one per name):
    an author's turns lie scattered one to a page of the table, and reading those
    pages cost more than ranking them. Chunks of several authors are found through
    the partial GIN index on authors (migration 0011)."""
    names = filters.author_names() if filters.author else []
    if not names or len(names) > AUTHOR_BRANCHES:
        where, params = filter_sql(namespace, filters, conversation_id)
        return f"SELECT c.chunk_id, c.bits FROM chunk_bits c WHERE {where}", params
    where, params = filter_sql(namespace, filters.model_copy(update={"author": None}), conversation_id)
    branches = [
        f"SELECT c.chunk_id, c.bits FROM chunk_bits c WHERE {where} AND c.authors = CAST(%(author{i})s AS text[])"
        for i in range(len(names))
    ]
    branches.append(
        f"SELECT c.chunk_id, c.bits FROM chunk_bits c WHERE {where} "
        "AND cardinality(c.authors) > 1 AND c.authors && CAST(%(authors)s AS text[])"
    )
    params.update({f"author{i}": [name] for i, name in enumerate(names)}, authors=names)
    return " UNION ALL ".join(branches), params


def _reads_every_row(plan: dict) -> bool:
    """Whether an EXPLAIN plan scans the whole chunk_bits table (no index finds the matches)."""
    if plan["Node Type"] == "Seq Scan" and plan.get("Relation Name") == "chunk_bits":
        return True
    return any(_reads_every_row(child) for child in plan.get("Plans", ()))


def vector_arm(
    conn: Connection,
    namespace: str,
    query_vector: np.ndarray,
    dimension: int,
    filters: SearchFilters,
    conversation_id: UUID | None,
    top_k: int,
    by_bits: bool = False,
) -> list[Candidate]:
    """The vector arm (cosine): the nearest chunks' rows, best first (`rank` 1, 2, ...).

    By default it walks the HNSW graph with the filters inside its WHERE clause;
    with pgvector's iterative index scans (`tune_vector_scan`) a filter still
    yields a full arm instead of a thin one. `by_bits` (see `ranks_by_bits`)
    ranks the filter's matches in chunk_bits by the Hamming distance of their
    sign bits to the query's, and re-ranks the nearest BITS_SHORTLIST of them by
    their full vectors: the distances the arm returns are exact either way. See
    mcp_rag/search/fusion.py for how the arms combine.
    """
    dim = int(dimension)
    if by_bits:
        matches, params = _bits_matches(namespace, filters, conversation_id)
        shortlist = f"""
            SELECT m.chunk_id FROM ({matches}) m
            ORDER BY m.bits <~> binary_quantize(%(qvec)s)::bit({dim}), m.chunk_id LIMIT %(shortlist)s
        """
        nearest = f"""
            SELECT k.id, k.embedding::vector({dim}) <=> %(qvec)s AS dist
            FROM chunks k WHERE k.id = ANY(ARRAY({shortlist}))
            ORDER BY dist, k.id LIMIT %(depth)s
        """
        params["shortlist"] = max(BITS_SHORTLIST, _depth(top_k))
    else:
        where, params = filter_sql(namespace, filters, conversation_id)
        nearest = f"""
            SELECT c.id, c.embedding::vector({dim}) <=> %(qvec)s AS dist
            FROM chunks c WHERE {where}
            ORDER BY c.embedding::vector({dim}) <=> %(qvec)s LIMIT %(depth)s
        """
    params.update(qvec=np.asarray(query_vector, dtype=np.float32), depth=_depth(top_k))
    ranked = f"SELECT id, dist, row_number() OVER (ORDER BY dist, id) AS rank FROM ({nearest}) vec"
    # The cosine distance rides along: search.relevance turns it into a hit's `match`.
    return _candidates(conn, ranked, params, ", arm.dist")
