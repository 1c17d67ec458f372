"""SQL for writing chunks: where an append re-chunks from, the BM25 statistics
lock, and the binary COPY of new chunks. The vector index lives in
vector_index.py, the search SQL in arms.py."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import numpy as np
from pgvector import SparseVector
from sqlalchemy import text
from sqlalchemy.engine import Connection

from mcp_rag.chunking import ChunkDraft
from mcp_rag.search import bm25, terms
from mcp_rag.store import driver


def count(conn: Connection, conversation_id: UUID | None = None) -> int:
    """Chunks of one conversation, or of all."""
    if conversation_id is None:
        return conn.execute(text("SELECT count(*) FROM chunks")).scalar_one()
    return conn.execute(
        text("SELECT count(*) FROM chunks WHERE conversation_id = :id"), {"id": conversation_id}
    ).scalar_one()


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


# A chunk row as binary COPY writes it: `insert` here, and the bulk load of benchmarks/bench_search.py.
COPY_SQL = (
    "COPY chunks (conversation_id, namespace, source, first_seq, last_seq, message_ids, authors, roles, "
    "started_at, ended_at, text, embedding, terms, n_terms, bm25) FROM STDIN WITH (FORMAT BINARY)"
)

COPY_TYPES = ["uuid", "text", "text", "int4", "int4", "text[]", "text[]", "text[]"]
COPY_TYPES += ["timestamptz", "timestamptz", "text", "vector", "int4[]", "int4", "sparsevec"]


def _copy_rows(conn: Connection, rows: list[tuple]) -> None:
    """COPY rows (in COPY_SQL's column order) into chunks, inside `conn`'s transaction."""
    with driver.cursor(conn, COPY_SQL) as cur, cur.copy(COPY_SQL) as copy:
        copy.set_types(COPY_TYPES)
        for row in rows:
            copy.write_row(row)
