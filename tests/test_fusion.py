"""fusion.rerank: the neighbour and author adjustments over a fused candidate pool."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from mcp_rag.search import fusion


def conv(name: str) -> UUID:  # candidate rows carry conversation ids as the database returns them
    return uuid5(NAMESPACE_URL, name)


def row(seq: int, score: float, author: str, conversation: str = "c1") -> dict:
    cid = conv(conversation)
    return {"conversation_id": cid, "first_seq": seq, "last_seq": seq, "authors": [author], "score": score}


def order(pool: list[dict], query: str) -> list[tuple[str, int]]:
    names = {conv(n): n for n in ("c1", "c2", "c3")}
    return [(names[r["conversation_id"]], r["first_seq"]) for r in fusion.rerank(pool, query)]


def test_a_turn_next_to_a_strong_match_overtakes_an_isolated_one():
    pool = [row(1, 0.30, "Ana"), row(2, 0.10, "Ben"), row(9, 0.11, "Ben")]
    assert order(pool, "what concert") == [("c1", 1), ("c1", 2), ("c1", 9)]


def test_neighbours_are_only_adjacent_turns_of_the_same_conversation():
    pool = [row(1, 0.30, "Ana"), row(3, 0.10, "Ben"), row(2, 0.11, "Ben", conversation="c2")]
    ranked = fusion.rerank(pool, "anything")
    assert [r["score"] for r in ranked] == [0.30, 0.11, 0.10]


def test_a_named_participant_turns_are_boosted_over_the_other_side():
    pool = [row(1, 0.20, "Ben"), row(5, 0.15, "Nebraas")]
    assert order(pool, "What films did Nebraas watch?")[0] == ("c1", 5)
    assert order(pool, "What films were watched?")[0] == ("c1", 1)


def test_names_match_as_words_case_and_possessive_aside():
    pool = [row(1, 0.20, "ben.smith"), row(5, 0.15, "Paola Rossi")]
    assert order(pool, "PAOLA's favourite books")[0] == ("c1", 5)
    assert order(pool, "Paolo's favourite books")[0] == ("c1", 1)  # another name: no boost


def test_rows_without_authors_and_an_empty_pool():
    assert fusion.rerank([], "q") == []
    pool = [{**row(1, 0.2, "x"), "authors": []}, row(2, 0.1, "Ana")]
    assert len(fusion.rerank(pool, "ana")) == 2


def test_the_window_arm_votes_like_a_third_arm():
    def ranked(*ids: int) -> list[dict]:
        return [{"id": i, "rank": r, "conversation_id": conv("c1"), "first_seq": i} for r, i in enumerate(ids, 1)]

    # 1 leads both turn arms; 2 and 3 tie on them (second in one arm each) until the window arm votes for 3.
    vector, lexical = ranked(1, 2), ranked(1, 3)
    assert [r["id"] for r in fusion.fuse(vector, lexical)] == [1, 2, 3]
    fused = fusion.fuse(vector, lexical, ranked(3, 4))
    assert [r["id"] for r in fused] == [1, 3, 2, 4]
    assert fused[1]["score"] == 1 / (fusion.RRF_K + 2) + 1 / (fusion.RRF_K + 1)
