"""The window arm: windows of turns written at ingest, searched, resolved to turns."""

from __future__ import annotations

from uuid import uuid4

import pytest
from builders import make_conversation
from sqlalchemy import text

from mcp_rag.config import load_settings
from mcp_rag.models import MessageIn, SearchFilters, SearchRequest
from mcp_rag.search import windows
from mcp_rag.store import windows as window_sql

FILLER = [
    "Did you see the game last night?",
    "I have to finish the report before Friday.",
    "The weather has been strange this week.",
    "I am cooking lasagna tonight.",
    "My sister called me this morning.",
]
# An answer spread over five turns: no single turn holds more than one of the question's words.
SPREAD = [
    ("Maria", "I finally bought a bicycle!"),
    ("Tom", "Nice, where did you find it?"),
    ("Maria", "In Porto, at a small shop by the river."),
    ("Tom", "What colour is it?"),
    ("Maria", "Green, of course."),
]
# Turns that each hold one of the question's words, far from each other.
DISTRACTORS = [
    ("Tom", "My cousin lives in Porto and loves it there."),
    ("Maria", "The bicycle lane near the office is closed again."),
    ("Tom", "Green tea is the only thing I drink in the afternoon."),
]
QUESTION = "bicycle Porto green"


def test_the_window_arm_is_on_by_default():
    assert load_settings(env="test").window_arm


@pytest.fixture(autouse=True)
def window_arm(service, monkeypatch):
    """The window arm is on by default; these tests hold it on whatever the environment says."""
    monkeypatch.setattr(service.settings, "window_arm", True)


def spread_conversation():
    turns: list[tuple[str, str]] = []
    for i in range(40):
        turns.append((["Maria", "Tom"][i % 2], FILLER[i % len(FILLER)]))
        if i in (5, 15, 25):
            turns.append(DISTRACTORS[(i - 5) // 10])
        if i == 33:
            turns.extend(SPREAD)
    messages = [
        {"id": f"m{n}", "author": who, "content": said, "timestamp": f"2024-03-01T10:{n % 60:02d}:00Z"}
        for n, (who, said) in enumerate(turns, start=1)
    ]
    evidence = {f"m{n}" for n, t in enumerate(turns, start=1) if t in (SPREAD[0], SPREAD[2], SPREAD[4])}
    return make_conversation("spread", messages), evidence


def stored_windows(service, external_id: str) -> list[tuple[int, int]]:
    with service.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT w.first_seq, w.last_seq FROM chunk_windows w JOIN conversations c "
                    "ON c.id = w.conversation_id WHERE c.external_id = :e ORDER BY w.first_seq"
                ),
                {"e": external_id},
            )
        ]


def top_ids(service, query: str, k: int, **filters) -> list[str]:
    hits = service.search(SearchRequest(query=query, top_k=k, **filters)).hits
    return [m for h in hits for m in h.message_ids]


def test_windows_start_every_stride_and_end_at_the_last_turn():
    assert windows.spans(1, 13) == [(1, 6), (4, 9), (7, 12), (10, 13)]
    assert windows.spans(1, 4) == [(1, 4)]
    assert windows.first_start(1) == 1 and windows.first_start(7) == 4 and windows.first_start(9) == 4
    for seq in range(1, 40):
        start = windows.first_start(seq)
        assert start <= seq <= start + windows.WINDOW_TURNS - 1  # the earliest window holding seq
        assert start == 1 or start - windows.WINDOW_STRIDE + windows.WINDOW_TURNS - 1 < seq


def test_a_window_hit_votes_for_its_turns_nearest_the_query():
    rows = [
        {"window": 2, "id": 7, "distance": 0.1},
        {"window": 1, "id": 5, "distance": 0.5},
        {"window": 1, "id": 6, "distance": 0.2},
        {"window": 2, "id": 6, "distance": 0.2},  # in both windows: counted for the better one
    ]
    assert [(r["id"], r["rank"]) for r in windows.resolve(rows)] == [(6, 1), (5, 2), (7, 3)]


def test_windows_holding_several_vector_hits_rank_first():
    c = uuid4()
    rows = [{"conversation_id": c, "first_seq": s, "rank": r} for r, s in enumerate([20, 8, 9], start=1)]
    # 8 and 9 are both in the windows starting at 4 and 7; 20 is alone in those starting at 16 and 19.
    ranked = windows.by_vector_hits(rows)
    assert set(ranked[:2]) == {(c, 4), (c, 7)} and set(ranked[2:]) == {(c, 16), (c, 19)}
    assert windows.fuse([(c, 16)], ranked)[0] == (c, 16)  # in both rankings


def test_an_answer_spread_over_turns_is_found_by_the_window_arm(service, monkeypatch):
    conv, evidence = spread_conversation()
    service.ingest(conv)
    assert set(top_ids(service, QUESTION, 3)) == evidence
    # Without the window arm each distractor ties with an evidence turn on one word.
    monkeypatch.setattr(service.settings, "window_arm", False)
    assert set(top_ids(service, QUESTION, 3)) != evidence


def test_appending_rewrites_only_the_windows_that_reach_the_new_turns(service):
    service.ingest(make_conversation("grow", [{"id": f"m{i}", "content": f"turn {i}"} for i in range(1, 9)]))
    assert stored_windows(service, "grow") == windows.spans(1, 8)
    service.append_messages("grow", [MessageIn(content=f"later {i}") for i in range(5)])
    assert stored_windows(service, "grow") == windows.spans(1, 13)


def test_the_window_arm_keeps_to_the_filters(service):
    conv, _ = spread_conversation()
    service.ingest(conv)
    hits = service.search(SearchRequest(query=QUESTION, top_k=10, author="Tom")).hits
    assert hits and all(h.authors == ["Tom"] for h in hits)
    assert not service.search(SearchRequest(query=QUESTION, top_k=10, since="2030-01-01T00:00:00Z")).hits


def test_reindex_writes_windows_for_conversations_stored_without_them(service):
    conv, evidence = spread_conversation()
    service.ingest(conv)
    expected = stored_windows(service, "spread")
    with service.engine.begin() as conn:
        conn.execute(text("DELETE FROM chunk_windows"))
    service.reindex()
    assert stored_windows(service, "spread") == expected
    assert set(top_ids(service, QUESTION, 3)) == evidence


def test_with_the_arm_off_no_windows_are_written(service, monkeypatch):
    monkeypatch.setattr(service.settings, "window_arm", False)
    service.ingest(spread_conversation()[0])
    assert stored_windows(service, "spread") == []


def test_windows_go_with_their_conversation(service):
    conv, _ = spread_conversation()
    service.ingest(conv)
    service.delete_conversation("spread")
    with service.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM chunk_windows")).scalar_one() == 0


def test_a_query_of_stop_words_finds_no_window_and_still_searches(service):
    service.ingest(make_conversation())
    with service.engine.connect() as conn:
        assert window_sql.lexical(conn, "default", "the and of", SearchFilters(), None, 1000) == []
    assert len(service.search(SearchRequest(query="the and of", top_k=3)).hits) == 3  # the vector arm


def test_across_conversations_the_windows_bm25_scores_a_share_of_the_candidate_budget(service):
    # "lasagna" is in 6 turns of another conversation, "porto" in one: 7 turns, within a budget of 10.
    service.ingest(make_conversation("dinners", [{"id": f"d{i}", "content": f"lasagna night {i}"} for i in range(6)]))
    service.ingest(make_conversation("trip", [{"id": "t1", "content": "We landed in Porto at noon."}]))
    with service.engine.connect() as conn:
        trip = conn.execute(text("SELECT id FROM conversations WHERE external_id = 'trip'")).scalar_one()
        budget = 10
        across = window_sql.lexical(conn, "default", "porto lasagna", SearchFilters(), None, budget)  # 3 by the share
        assert [cid for cid, _ in across] == [trip]
        # Inside one conversation it is exact: every window sharing a term is scored.
        dinners = conn.execute(text("SELECT id FROM conversations WHERE external_id = 'dinners'")).scalar_one()
        inside = window_sql.lexical(conn, "default", "porto lasagna", SearchFilters(), dinners, budget)
        assert inside and {cid for cid, _ in inside} == {dinners}
