"""BM25 as sparse vectors: terms, weights, and the corpus statistics PostgreSQL keeps."""

from __future__ import annotations

import math
from collections import Counter

from builders import make_conversation
from sqlalchemy import text

from mcp_rag.models import MessageIn, SearchRequest
from mcp_rag.search import bm25
from mcp_rag.search.terms import term_id, terms


def test_terms_are_stemmed_lowercase_words_without_stop_words():
    assert terms("When did Kate go SKIING with her friends?") == ["kate", "go", "ski", "friend"]


def test_term_ids_are_stable_and_distinct():
    assert term_id("ski") == term_id("ski")
    assert len({term_id(t) for t in ("ski", "kate", "pasta", "tokyo")}) == 4


def test_document_weight_saturates_with_repetition_and_falls_with_length():
    short = bm25.document_weights(Counter({1: 1}), avgdl=10)
    repeated = bm25.document_weights(Counter({1: 4}), avgdl=10)
    long = bm25.document_weights(Counter({1: 1, 2: 29}), avgdl=10)
    assert short[1] < repeated[1] < bm25.K1 + 1  # more occurrences help, but never past k1 + 1
    assert long[1] < short[1]  # the same word counts less in a longer chunk


def test_document_weight_matches_the_okapi_formula():
    w = bm25.document_weights(Counter({7: 2, 8: 3}), avgdl=4, k1=1.2, b=0.75)
    norm = 1.2 * (1 - 0.75 + 0.75 * 5 / 4)
    assert math.isclose(w[7], 2 * 2.2 / (2 + norm))


def test_rare_terms_weigh_more_and_unknown_terms_are_dropped():
    q = bm25.query_weights(Counter({1: 1, 2: 1, 3: 1}), df={1: 2, 2: 90}, docs=100)
    assert q[1] > q[2] > 0
    assert 3 not in q


def test_corpus_statistics_follow_inserts_appends_and_deletes(service):
    def stats():
        with service.engine.begin() as conn:
            chunks, total = conn.execute(text("SELECT chunks, terms FROM corpus_stats")).one()
            ski = conn.execute(text("SELECT df FROM term_stats WHERE term = :t"), {"t": term_id("ski")}).scalar()
            real = conn.execute(text("SELECT count(*), sum(n_terms) FROM chunks")).one()
        return chunks, total, ski, tuple(real)

    service.ingest(make_conversation())
    chunks, total, ski, real = stats()
    assert (chunks, total) == real and ski >= 1

    service.append_messages("conv-1", [MessageIn(id="m4", author="Emi", content="Skiing again next week?")])
    chunks, total, ski_after, real = stats()
    assert (chunks, total) == real and ski_after > ski

    service.delete_conversation("conv-1")
    with service.engine.begin() as conn:
        assert conn.execute(text("SELECT chunks, terms FROM corpus_stats")).one() == (0, 0)
        assert conn.execute(text("SELECT count(*) FROM term_stats")).scalar() == 0


def test_bm25_arm_finds_a_rare_word_the_embedding_cannot_know(service):
    messages = [
        {"id": f"m{i}", "author": "Ana", "content": f"Just a normal day at work number {i}."} for i in range(30)
    ]
    messages[17]["content"] = "My cousin finally visited Chefchaouen, the blue city."
    service.ingest(make_conversation(messages=messages))
    hit = service.search(SearchRequest(query="Chefchaouen", top_k=1)).hits[0]
    assert "m17" in hit.message_ids


def test_candidate_terms_keep_every_term_within_the_budget():
    weights, df = {1: 0.5, 2: 2.0, 3: 4.0}, {1: 600, 2: 300, 3: 10}
    assert bm25.candidate_terms(weights, df, budget=910, docs=1000) == ([1, 2, 3], False)
    assert bm25.candidate_terms(weights, df, budget=0, docs=1000) == ([1, 2, 3], False)  # 0: no limit


def test_candidate_terms_past_the_budget_keep_the_rarest_that_fit():
    weights, df = {1: 0.5, 2: 2.0, 3: 4.0}, {1: 600, 2: 300, 3: 10}
    assert bm25.candidate_terms(weights, df, budget=400, docs=1000) == ([2, 3], False)
    assert bm25.candidate_terms(weights, df, budget=10, docs=1000) == ([3], False)


def test_candidate_terms_when_even_the_rarest_is_past_the_budget_require_the_rarest_together():
    # 100k chunks; terms in 40k, 20k and 10k of them. Any one alone is past a budget of 1,000:
    # the rarest two together are expected in 100k x 0.1 x 0.2 = 2,000 chunks, all three in 800.
    weights, df = {1: 0.5, 2: 1.0, 3: 2.0}, {1: 40_000, 2: 20_000, 3: 10_000}
    assert bm25.candidate_terms(weights, df, budget=1000, docs=100_000) == ([1, 2, 3], True)
    assert bm25.candidate_terms(weights, df, budget=5000, docs=100_000) == ([2, 3], True)
    # A single term cannot be narrowed: all its chunks are scored.
    assert bm25.candidate_terms({3: 2.0}, {3: 10_000}, budget=1000, docs=100_000) == ([3], False)
