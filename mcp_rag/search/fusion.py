"""Fusion: how the vector arm and the BM25 arm become one ranking.

Reciprocal rank fusion (score = sum of weight / (k + rank), `fuse`) needs no score
calibration between a cosine distance and a BM25 sum, which live on unrelated
scales that also shift from query to query. Each arm is capped at ARM_DEPTH
candidates before fusion, so one arm's long tail of weak matches cannot
outvote the other arm's top results.

A small k (5 rather than the customary 60) lets the top few ranks of each arm
dominate: on conversation turns both arms are precise at the very top and
noisy below, and k = 5 beat k = 60 by about +0.03 budgeted recall on the tuning
half of REALTALK (docs/RETRIEVAL.md). Equal weights beat favouring either arm:
BM25 catches names, places and titles exactly; the vector arm catches
paraphrases BM25 cannot see.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from mcp_rag.search import terms, windows

ARM_DEPTH = 60
RRF_K = 5.0
LEXICAL_WEIGHT = 1.0
VECTOR_WEIGHT = 1.0

# Two conversation-aware adjustments over the fused pool (measured in docs/RETRIEVAL.md):
NEIGHBOUR_WEIGHT = 0.2  # a candidate gains this share of its best adjacent candidate's score
AUTHOR_BOOST = 1.5  # a candidate written by someone the query names scores this many times more


def fuse(vector: list[dict], lexical: list[dict], window: Sequence[dict] = ()) -> list[dict]:
    """The fused pool: each arm's rows (best first, each with its `id` and `rank`)
    merged by chunk id, scored by reciprocal rank fusion, best first (ties by
    conversation and position), as new rows with a `score`. `window` is the
    window arm's turns (mcp_rag/search/windows.py)."""
    pool: dict[int, dict] = {}
    for weight, arm in ((VECTOR_WEIGHT, vector), (LEXICAL_WEIGHT, lexical), (windows.WINDOW_WEIGHT, window)):
        for row in arm:
            entry = pool.get(row["id"])
            if entry is None:
                entry = pool[row["id"]] = {**row, "score": 0.0}
            entry["score"] += weight / (RRF_K + row["rank"])
    return sorted(pool.values(), key=lambda r: (-r["score"], r["conversation_id"], r["first_seq"]))


def rerank(pool: list[dict], query: str) -> list[dict]:
    """Order the fused candidates, best first, after two adjustments a chat calls for.

    - Neighbours: in a conversation the meaning of a turn often lives next to
      it ("The Weeknd!" answers the turn before it about a concert), so a
      candidate gains NEIGHBOUR_WEIGHT of the best score among the candidates
      right before and after it in the same conversation.
    - Authors: a query naming a participant ("what films did Nebraas watch?")
      is about what that person wrote, so that person's turns are boosted over
      the other side's questions that merely repeat the topic.

    Each row needs conversation_id, first_seq, last_seq, authors and score; the
    rows come back with `score` replaced by the adjusted one. Only rows already
    in the pool are touched, so this costs a few dict lookups per candidate.
    """
    # Keyed by the conversation's UUID as an int: a UUID object hashes in Python code,
    # which made these lookups most of a search's fusion time.
    ends: dict[tuple, float] = {}
    starts: dict[tuple, float] = {}
    for r in pool:
        cid, score = r["conversation_id"].int, r["score"]
        if score > ends.get(key := (cid, r["last_seq"]), 0.0):
            ends[key] = score
        if score > starts.get(key := (cid, r["first_seq"]), 0.0):
            starts[key] = score
    # The pool's authors whose names the query holds, matched once per author, not per row.
    named = set(terms.terms(query))
    boosted = {a for r in pool for a in r["authors"] or () if not named.isdisjoint(_name_terms(a))} if named else set()
    scored = []
    for r in pool:
        cid = r["conversation_id"].int
        before, after = ends.get((cid, r["first_seq"] - 1), 0.0), starts.get((cid, r["last_seq"] + 1), 0.0)
        score = r["score"] + NEIGHBOUR_WEIGHT * (before if before > after else after)
        if boosted and not boosted.isdisjoint(r["authors"] or ()):
            score *= AUTHOR_BOOST
        scored.append({**r, "score": score})
    scored.sort(key=lambda r: -r["score"])
    return scored


@lru_cache(maxsize=10_000)
def _name_terms(author: str) -> frozenset[str]:
    return frozenset(terms.terms(author))
