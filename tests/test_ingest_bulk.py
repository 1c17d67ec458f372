"""How ingest writes chunks (one binary COPY per conversation): every column holds
exactly what chunking, the embedder and BM25 computed, in chunking order, and a
write the database refuses rolls the whole conversation back as a core error."""

from __future__ import annotations

import numpy as np
import pytest
from builders import make_conversation
from pgvector import SparseVector, Vector
from sqlalchemy import text

from mcp_rag import chunking
from mcp_rag.errors import Conflict, Invalid
from mcp_rag.search import bm25, terms
from mcp_rag.store import conversations as conv_sql

LONG = " ".join(f"word{i} skiing" for i in range(150))  # longer than a chunk: split into word windows


def stored_chunks(service) -> list[dict]:
    with service.engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT id, first_seq, last_seq, message_ids, authors, roles, started_at, ended_at, text, "
                "embedding::text AS embedding, terms, n_terms, bm25::text AS bm25, source, namespace "
                "FROM chunks ORDER BY id"
            )
        ).mappings()
        return [dict(r) for r in rows]


def test_chunks_hold_the_embedders_vectors_and_exact_bm25_weights_in_chunking_order(service):
    conv = make_conversation(
        "bulk",
        source="slack",
        messages=[
            {"id": "a", "author": "Kate", "content": "I went skiing in Colorado.", "timestamp": "2024-01-02T10:00:00Z"},
            {"id": "b", "role": "assistant", "content": "the and of it"},  # no terms at all
            {"id": "c", "author": "Emi", "content": LONG, "timestamp": "2024-01-02T10:05:00+02:00"},
            {"id": "d", "author": "Kate", "content": "Snow, snow and more snow!", "timestamp": "2024-01-03T09:00:00Z"},
        ],
    )
    result = service.ingest(conv)
    s = service.settings
    with service.engine.begin() as conn:
        turns = conv_sql.turns_from(conn, result.id, 1)
    drafts = chunking.chunk_turns(turns, s.chunk_max_words, s.chunk_max_messages, context=s.chunk_context)
    vectors = service.embedder.embed([d.index_text for d in drafts])
    counts = [terms.term_counts(d.text) for d in drafts]
    avgdl = sum(sum(c.values()) for c in counts) / len(drafts)  # the namespace was empty

    rows = stored_chunks(service)
    assert len(rows) == len(drafts) == result.chunks
    assert len({r["first_seq"] for r in rows}) < len(rows), "the long message was split"
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    for row, draft, vector, count in zip(rows, drafts, vectors, counts, strict=True):
        assert (row["first_seq"], row["last_seq"], row["text"]) == (draft.first_seq, draft.last_seq, draft.text)
        assert (row["message_ids"], row["authors"], row["roles"]) == (draft.message_ids, draft.authors, draft.roles)
        assert (row["started_at"], row["ended_at"]) == (draft.started_at, draft.ended_at)
        assert (row["source"], row["namespace"]) == ("slack", "default")
        assert np.array_equal(Vector.from_text(row["embedding"]).to_numpy(), vector.astype(np.float32))
        assert row["terms"] == sorted(count) and row["n_terms"] == sum(count.values())
        weights = bm25.document_weights(count, avgdl)
        stored = SparseVector.from_text(row["bm25"])
        assert stored.dimensions() == terms.SPACE
        # float4 prints the shortest text that reads back as the same float4
        assert {t: np.float32(v) for t, v in zip(stored.indices(), stored.values(), strict=True)} == {
            t: np.float32(w) for t, w in weights.items()
        }
    with service.engine.begin() as conn:
        stats = conn.execute(text("SELECT chunks, terms FROM corpus_stats WHERE namespace = 'default'")).one()
        dfs = dict(conn.execute(text("SELECT term, df FROM term_stats WHERE namespace = 'default'")).all())
    assert tuple(stats) == (len(drafts), sum(sum(c.values()) for c in counts))
    assert dfs == {t: sum(t in c for c in counts) for c in counts for t in c}


@pytest.mark.parametrize(
    ("sqlstate", "error"),
    [("22023", Invalid), ("40001", Conflict)],  # a value the database refuses; contention that never clears
)
def test_a_chunk_write_the_database_refuses_leaves_nothing_and_is_a_core_error(service, sqlstate, error):
    with service.engine.begin() as conn:
        conn.execute(
            text(
                f"""
                CREATE FUNCTION test_refuse_chunk() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.text LIKE '%refuse me%' THEN
                        RAISE EXCEPTION 'refused' USING ERRCODE = '{sqlstate}';
                    END IF;
                    RETURN NEW;
                END $$
                """
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER test_refuse_chunk BEFORE INSERT ON chunks "
                "FOR EACH ROW EXECUTE FUNCTION test_refuse_chunk()"
            )
        )
    try:
        bad = make_conversation("bad", messages=[{"content": "a fine turn"}, {"content": "please refuse me"}])
        with pytest.raises(error):
            service.ingest(bad)
        with service.engine.begin() as conn:
            for table in ("conversations", "messages", "chunks", "chunk_terms", "term_stats"):
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table
    finally:
        with service.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS test_refuse_chunk ON chunks"))
            conn.execute(text("DROP FUNCTION IF EXISTS test_refuse_chunk()"))
    assert service.ingest(make_conversation()).chunks == 3  # the pooled connections still work
