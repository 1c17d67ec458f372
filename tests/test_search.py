"""Hybrid search on the real database and model: relevance, filters inside SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from builders import conversation_row, make_conversation
from pgvector import SparseVector
from sqlalchemy import text

from mcp_rag.errors import NotFound
from mcp_rag.models import ConversationIn, SearchFilters, SearchRequest
from mcp_rag.search import fusion, terms
from mcp_rag.store import arms
from mcp_rag.store import chunks as chunk_sql

TOPICS = [
    "I adopted a puppy named Biscuit from the shelter.",
    "We are renovating the kitchen with blue tiles.",
    "My flight to Tokyo got delayed by six hours.",
    "I started learning the cello last month.",
    "The marathon training plan has me running 40 miles a week.",
]


def seed(service, conversations: int = 12):
    for c in range(conversations):
        messages = [
            {
                "id": f"c{c}-m{i}",
                "author": ["Ana", "Ben", "Cho"][(c + i) % 3],
                "content": f"{TOPICS[(c + i) % len(TOPICS)]} (note {c}-{i})",
                "timestamp": f"2024-0{1 + c % 6}-{10 + i:02d}T12:00:00Z",
            }
            for i in range(10)
        ]
        service.ingest(
            ConversationIn(
                id=f"s-{c}",
                source="slack" if c % 2 else "chatgpt",
                metadata={"team": "red" if c % 3 == 0 else "blue"},
                messages=messages,
            )
        )


def test_search_finds_the_turn_that_answers(service):
    service.ingest(make_conversation())
    seed(service, 3)
    hits = service.search(SearchRequest(query="when did Kate go skiing", top_k=3)).hits
    assert hits[0].conversation_external_id == "conv-1"
    assert hits[0].message_ids == ["m1"]
    assert hits[0].authors == ["Kate"]


def test_hits_carry_ids_text_and_time_range(service):
    service.ingest(make_conversation(title="Ski trip", source="whatsapp"))
    hit = service.search(SearchRequest(query="black run powder", top_k=1)).hits[0]
    assert hit.title == "Ski trip" and hit.source == "whatsapp"
    assert hit.message_ids == ["m3"]
    assert hit.text == "Kate (Tuesday 2 January 2024, 10:02): Fresh powder, and I finally tried a black run."
    assert hit.started_at.isoformat().startswith("2024-01-02T10:02")
    assert hit.score > 0


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        ({"author": "Cho"}, lambda h: "Cho" in h.authors),
        ({"source": "slack"}, lambda h: h.source == "slack"),
        ({"conversation_id": "s-4"}, lambda h: h.conversation_external_id == "s-4"),
        ({"metadata": {"team": "red"}}, lambda h: int(h.conversation_external_id.split("-")[1]) % 3 == 0),
        ({"since": "2024-03-01T00:00:00Z"}, lambda h: h.ended_at.month >= 3),
        ({"until": "2024-02-28T00:00:00Z"}, lambda h: h.started_at.month <= 2),
    ],
)
def test_filters_narrow_results_and_top_k_stays_full(service, filters, check):
    seed(service)
    result = service.search(SearchRequest(query="puppy from the shelter", top_k=5, **filters))
    assert len(result.hits) == 5
    assert all(check(h) for h in result.hits)


def test_filters_that_exclude_every_turn_return_no_hits(service):
    seed(service, 3)
    assert service.search(SearchRequest(query="puppy", since="2999-01-01T00:00:00Z")).hits == []


def test_unknown_conversation_filter_is_not_found(service):
    with pytest.raises(NotFound):
        service.search(SearchRequest(query="x", conversation_id="missing"))


def test_stopword_only_query_still_uses_the_vector_arm(service):
    service.ingest(make_conversation())
    assert service.search(SearchRequest(query="the and of", top_k=2)).hits


def test_a_named_participant_answer_outranks_the_question_that_repeats_the_words(service, monkeypatch):
    """Ben's question holds every query word; Ana's answer holds none but her name (fusion.rerank)."""
    service.ingest(
        make_conversation(
            messages=[
                {"id": "q", "author": "Ben", "content": "Ana, what films did you watch this weekend?"},
                {"id": "a", "author": "Ana", "content": "Dune, twice. The desert scenes were stunning."},
                {"id": "b", "author": "Ben", "content": "I watched no films at all, just football."},
            ]
        )
    )
    request = SearchRequest(query="What films did Ana watch?", top_k=3)
    assert service.search(request).hits[0].message_ids == ["a"]
    monkeypatch.setattr(fusion, "AUTHOR_BOOST", 1.0)
    monkeypatch.setattr(fusion, "NEIGHBOUR_WEIGHT", 0.0)
    assert service.search(request).hits[0].message_ids == ["q"]  # what plain fusion returns


def _arm_ids(conn, query, filters, conversation, top_k, budget):
    """The BM25 arm's chunk ids, best first."""
    rows = arms.lexical_arm(conn, "default", query, filters, conversation, top_k, budget)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    return [r["id"] for r in rows]


def test_bm25_arm_past_its_budget_scores_the_rarest_terms_chunks_but_stays_exact_in_a_conversation(
    service, monkeypatch
):
    """Forty turns say "garden", three also say "tulips": with a budget of 10 the arm
    scores only the tulip turns (exact BM25, best first); scoped to the conversation it
    scores them all; and a filter none of the tulip turns pass still gets a full top-k."""
    messages = [
        {"id": f"g{i}", "author": "Ana", "content": f"The garden needs water again, day {i}."} for i in range(40)
    ]
    messages += [{"id": f"t{i}", "author": "Ben", "content": "Tulips " * (i + 1) + "in the garden."} for i in range(3)]
    conv = service.ingest(make_conversation(messages=messages))
    query, no_filters = "tulips in the garden", SearchRequest(query="x").filters()
    with service.transaction(read_only=True) as conn:
        exact = _arm_ids(conn, query, no_filters, None, 10, 0)
        budgeted = _arm_ids(conn, query, no_filters, None, 10, 10)
        scoped = _arm_ids(conn, query, no_filters, conv.id, 10, 10)
    assert len(exact) == 43
    assert budgeted == exact[:3]  # the three tulip turns, in exact BM25 order
    assert scoped == exact
    monkeypatch.setattr(service.settings, "bm25_candidates", 10)
    hits = service.search(SearchRequest(query=query, author="Ana", top_k=5)).hits
    assert len(hits) == 5 and all(h.authors == ["Ana"] for h in hits)


def test_bm25_arm_when_every_query_word_is_common_scores_the_chunks_holding_them_together(service):
    """Twenty turns say "garden", twenty say "water", three say both. With a budget of
    10 either word alone is past it, so the arm scores only the turns holding both:
    the same three, in the same order, that head the exact ranking."""
    messages = [{"id": f"g{i}", "author": "Ana", "content": f"The garden is lovely, day {i}."} for i in range(20)]
    messages += [{"id": f"w{i}", "author": "Ben", "content": f"We ran out of water, day {i}."} for i in range(20)]
    messages += [{"id": f"b{i}", "author": "Ana", "content": "Water " * (i + 1) + "the garden."} for i in range(3)]
    service.ingest(make_conversation(messages=messages))
    query, no_filters = "water garden", SearchRequest(query="x").filters()
    with service.transaction(read_only=True) as conn:
        exact = _arm_ids(conn, query, no_filters, None, 10, 0)
        budgeted = _arm_ids(conn, query, no_filters, None, 10, 10)
        wide = _arm_ids(conn, query, no_filters, None, 10, 25)
    assert len(exact) == 43
    assert budgeted == exact[:3]
    assert len(wide) == 23 and set(wide) < set(exact)  # one word's 23 chunks fit a budget of 25


def test_a_filter_reading_few_rows_ranks_by_sign_bits_and_a_wide_or_unindexed_one_walks_the_graph(service, monkeypatch):
    """3,000 chunks a minute apart (random unit vectors, written with the product's
    COPY). PostgreSQL's estimates decide: the last 10% of time (300 chunks, found
    through chunk_bits' ended_at index) is ranked by sign bits, and the arm is the
    nearest of them in order, with exact distances, among the 100 of the 300 the
    sign bits shortlist; so for one author under two stored names (alone or with
    others). With a limit of 100 rows read the last 10% of time is past it. A rare
    source (no index: every row is read) is within 3,000 rows, past a limit of
    2,000. No filter and one conversation walk the HNSW graph."""
    n = 3000
    rng = np.random.default_rng(5)

    def authors(i: int) -> list[str]:  # Ben's 300 chunks: alone, as "Ben Ode", or with Ana; and others'
        return [["Ana", "Ben"], ["Ben"], ["Ben Ode"], ["Cy", "Dee"]][i % 30] if i % 30 < 4 else ["Ana"]

    vectors = rng.normal(size=(n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    empty = SparseVector({}, terms.SPACE)
    with service.transaction() as conn:
        cid = conversation_row(conn)
        rows = [
            (cid, "default", "email" if i % 100 == 0 else "slack", i + 1, i + 1, [f"m{i}"], authors(i), ["user"],
             start + timedelta(minutes=i), start + timedelta(minutes=i), f"turn {i}", vectors[i], [], 0, empty)
            for i in range(n)
        ]  # fmt: skip
        chunk_sql._copy_rows(conn, rows)
    with service.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE chunk_bits"))
    recent = SearchFilters(since=start + timedelta(minutes=n - 300))
    query = rng.normal(size=384).astype(np.float32)
    query /= np.linalg.norm(query)
    email = SearchFilters(source="email")
    with service.transaction(read_only=True) as conn:
        table_rows = arms.tune_vector_scan(conn, 10)
        assert table_rows == n
        assert arms.ranks_by_bits(conn, "default", recent, None, table_rows)
        assert arms.ranks_by_bits(conn, "default", email, None, table_rows)
        assert not arms.ranks_by_bits(conn, "default", SearchFilters(), None, table_rows)
        assert not arms.ranks_by_bits(conn, "default", recent, cid, table_rows)
        assert not arms.ranks_by_bits(conn, "default", recent, None, -1)  # never analyzed: the planner decides
        monkeypatch.setattr(arms, "BITS_SHORTLIST", 100)
        arm = arms.vector_arm(conn, "default", query, 384, recent, None, 10, by_bits=True)
        ben = SearchFilters(author="ben").with_authors(["Ben", "Ben Ode"])
        assert arms.ranks_by_bits(conn, "default", ben, None, table_rows)
        by_ben = arms.vector_arm(conn, "default", query, 384, ben, None, 10, by_bits=True)
        monkeypatch.setattr(arms, "BITS_MAX_ROWS", 2000)
        assert not arms.ranks_by_bits(conn, "default", email, None, table_rows)
        assert arms.ranks_by_bits(conn, "default", recent, None, table_rows)
        monkeypatch.setattr(arms, "BITS_MAX_ROWS", 100)
        assert not arms.ranks_by_bits(conn, "default", recent, None, table_rows)
    for got, matches in ((arm, range(n - 300, n)), (by_ben, [i for i in range(n) if i % 30 < 3])):
        # The shortlist: the 100 matches nearest by Hamming distance of their sign bits (ties by id, the
        # COPY's order), then ranked by their full vectors with exact distances.
        hamming = {i: int(np.count_nonzero((vectors[i] > 0) != (query > 0))) for i in matches}
        shortlist = sorted(hamming, key=lambda i: (hamming[i], i))[:100]
        nearest = sorted(shortlist, key=lambda i: 1 - float(vectors[i] @ query))[: fusion.ARM_DEPTH]
        assert [r["first_seq"] for r in got] == [i + 1 for i in nearest]
        assert [r["dist"] for r in got] == pytest.approx([1 - float(vectors[i] @ query) for i in nearest], abs=1e-5)
