"""SQL for the window arm: writing a conversation's windows and searching them.

The rules (window size, stride, depth, how a hit becomes turns) and their
reasons are in mcp_rag/search/windows.py; the table is migration 0009.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from uuid import UUID

import numpy as np
from pgvector import SparseVector
from sqlalchemy import text
from sqlalchemy.engine import Connection

from mcp_rag.models import SearchFilters
from mcp_rag.search import bm25, terms, windows
from mcp_rag.search.candidates import Candidate
from mcp_rag.store import arms, driver
from mcp_rag.store import chunks as chunk_sql


def refresh(conn: Connection, conversation_id: UUID, namespace: str, source: str | None, from_seq: int) -> int:
    """Rewrite the conversation's windows that hold `from_seq` or any later turn,
    from its chunks as stored now (call it after writing the chunks); the
    number of windows written.

    Windows before those are unchanged by an append: they end before `from_seq`."""
    start = windows.first_start(from_seq)
    conn.execute(
        text("DELETE FROM chunk_windows WHERE conversation_id = :id AND first_seq >= :start"),
        {"id": conversation_id, "start": start},
    )
    rows = conn.execute(
        text(
            "SELECT first_seq, last_seq, text, authors, roles, started_at, ended_at FROM chunks "
            "WHERE conversation_id = :id AND first_seq >= :start ORDER BY first_seq, id"
        ),
        {"id": conversation_id, "start": start},
    ).all()
    if not rows:
        return 0
    chunks, total_terms = chunk_sql.corpus_stats(conn, namespace)
    avgdl = windows.WINDOW_TURNS * total_terms / max(chunks, 1)
    written = []
    for first, last in windows.spans(start, max(r.last_seq for r in rows)):
        inside = [r for r in rows if first <= r.first_seq <= last]
        if not inside:
            continue
        counts = terms.term_counts("\n".join(r.text for r in inside))
        if not counts:
            continue
        starts = [r.started_at for r in inside if r.started_at is not None]
        ends = [r.ended_at for r in inside if r.ended_at is not None]
        written.append(
            {
                "cid": conversation_id,
                "ns": namespace,
                "source": source,
                "first": first,
                "last": last,
                "authors": sorted({a for r in inside for a in r.authors}),
                "roles": sorted({a for r in inside for a in r.roles}),
                "started": min(starts) if starts else None,
                "ended": max(ends) if ends else None,
                "terms": sorted(counts),
                "bm25": SparseVector(bm25.document_weights(counts, avgdl), terms.SPACE).to_text(),
            }
        )
    if written:
        conn.execute(
            text(
                "INSERT INTO chunk_windows (conversation_id, namespace, source, first_seq, last_seq, authors, roles, "
                "started_at, ended_at, terms, bm25) VALUES (:cid, :ns, :source, :first, :last, :authors, :roles, "
                ":started, :ended, :terms, CAST(:bm25 AS sparsevec))"
            ),
            written,
        )
    return len(written)


def rebuild(conn: Connection) -> int:
    """Rewrite every conversation's windows (`mcp-rag reindex`); the number written."""
    conn.execute(text("DELETE FROM chunk_windows"))
    convs = conn.execute(text("SELECT id, namespace, source FROM conversations ORDER BY id")).all()
    return sum(refresh(conn, cid, namespace, source, 1) for cid, namespace, source in convs)


def lexical(
    conn: Connection,
    namespace: str,
    query: str,
    filters: SearchFilters,
    conversation_id: UUID | None,
    candidate_budget: int,
) -> list[tuple[UUID, int]]:
    """The best WINDOW_DEPTH windows by BM25 (conversation, first seq), best first.

    The same filters as the turn arms apply to a window's own columns (a
    window matches an author filter when that author wrote one of its turns;
    `turns` then keeps only that author's turns). The candidate rule is the
    BM25 arm's (bm25.candidate_terms), with the turns' document frequencies and
    windows.CANDIDATE_SHARE of its budget."""
    weights, dfs, docs = arms.query_terms(conn, namespace, query)
    if not weights:
        return []
    where, params = arms.filter_sql(namespace, filters, conversation_id)
    budget = 0 if conversation_id is not None else math.ceil(candidate_budget * windows.CANDIDATE_SHARE)
    chosen, all_of = bm25.candidate_terms(weights, dfs, budget, docs)
    params.update(qsparse=SparseVector(weights, terms.SPACE), qterms=chosen, depth=windows.WINDOW_DEPTH)
    _, rows = driver.fetch(
        conn,
        f"""
        SELECT c.conversation_id, c.first_seq FROM chunk_windows c
        WHERE c.terms {"@>" if all_of else "&&"} CAST(%(qterms)s AS integer[]) AND {where}
        ORDER BY c.bm25 <#> %(qsparse)s, c.id LIMIT %(depth)s
        """,
        params,
    )
    return [(r[0], r[1]) for r in rows]


def turns(
    conn: Connection,
    hits: Sequence[tuple[UUID, int]],
    query_vector: np.ndarray,
    dimension: int,
    namespace: str,
    filters: SearchFilters,
    conversation_id: UUID | None,
) -> list[Candidate]:
    """The window arm's ranked turns: the chunks inside the hit windows (conversation,
    first seq; best first, windows.fuse) that pass the filters, with their window's rank and cosine distance
    to the query, resolved by windows.resolve. One statement: the hits are sent as
    arrays and joined on the chunks' (conversation_id, first_seq) index. The
    filters apply to the few joined turns afterwards (a materialised CTE): joined
    inside, an author filter made PostgreSQL AND each window's index scan with
    a scan of the author's every chunk, once per window."""
    if not hits:
        return []
    dim = int(dimension)
    where, params = arms.filter_sql(namespace, filters, conversation_id)
    params.update(
        wc=[h[0] for h in hits],
        wf=[h[1] for h in hits],
        wl=[h[1] + windows.WINDOW_TURNS - 1 for h in hits],
        qvec=np.asarray(query_vector, dtype=np.float32),
    )
    keys, rows = driver.fetch(
        conn,
        f"""
        WITH c AS MATERIALIZED (
            SELECT w.ord AS window, c.id, c.conversation_id, c.first_seq, c.last_seq, c.authors, c.roles,
                   c.namespace, c.source, c.started_at, c.ended_at,
                   c.embedding::vector({dim}) <=> %(qvec)s AS distance
            FROM unnest(%(wc)s::uuid[], %(wf)s::integer[], %(wl)s::integer[]) WITH ORDINALITY AS w(cid, lo, hi, ord)
            JOIN chunks c ON c.conversation_id = w.cid AND c.first_seq BETWEEN w.lo AND w.hi
        )
        SELECT c.window, c.id, c.conversation_id, c.first_seq, c.last_seq, c.authors, c.distance FROM c
        WHERE {where}
        """,
        params,
    )
    return windows.resolve(dict(zip(keys, row, strict=True)) for row in rows)
