"""The window arm: overlapping windows of turns as a coarser recall unit.

A question about something said over several turns ("which cities have both
been to?", "why can't Kate play volleyball?") often shares few words with any
one turn, while the few turns around the answer together share most of them.
So each conversation is also indexed as windows of WINDOW_TURNS consecutive
turns starting every WINDOW_STRIDE turns (each turn is in two windows), and a
search ranks those windows too, twice: by BM25 over the window's text, and by
the vector arm's hits inside each window (`by_vector_hits`: a window holding
several turns near the query ranks high), merged by reciprocal rank fusion
(`fuse`).

A window is never returned: the reader's word budget would go to the turns
around the evidence. Each of the best WINDOW_DEPTH windows is resolved to its
TURNS_PER_WINDOW turns closest to the query's vector, and those turns, in
window order, form a third ranked arm that reciprocal rank fusion merges with
the turn arms (mcp_rag/search/fusion.py). Mixing neighbours into a turn's own
text or vector measured worse (docs/RETRIEVAL.md); a separate arm keeps each
turn's own scores intact and only adds votes.

The windows' BM25 uses the turns' idf (term_stats) and an average window
length of WINDOW_TURNS times the average chunk's: on REALTALK that ranked the
same as statistics of their own (docs/RETRIEVAL.md), and it needs no second
set of statistics to keep exact. With BM25 alone the arm gained more on the
tuning half but lost on category 3 of the held-out half (−0.055 at 200
words); with the second ranking the held-out half gains overall at both
budgets. That ranking costs no query: the vector arm's rows are already
there. Ranking windows by the mean of their turns' vectors measured the same
and took an HNSW index and a query of its own (~1.65x search p95 at 100k
chunks with it); embedding the window texts would multiply the ingest's
model work.

The arm's cost is its two statements (docs/RETRIEVAL.md). Across a whole
namespace the windows' BM25 scores at most CANDIDATE_SHARE of the BM25 arm's
candidate budget (counted, like it, in the turns' document frequencies: a
term is in up to TURNS/STRIDE = 2 windows per turn that holds it, and a
window's row is six turns' terms), and WINDOW_DEPTH windows are resolved to
turns; inside one conversation the windows' BM25 is exact, as the turns' is.
Off (Settings.window_arm), windows are neither written nor searched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast
from uuid import UUID

from mcp_rag.search.candidates import Candidate

WINDOW_TURNS = 6
WINDOW_STRIDE = 3
WINDOW_DEPTH = 20  # REALTALK recall the same as 30 on both halves, 15 lower (docs/RETRIEVAL.md)
CANDIDATE_SHARE = 0.3  # of Settings.bm25_candidates, for searches across conversations
TURNS_PER_WINDOW = 4
WINDOW_WEIGHT = 1.0  # the arm's weight in reciprocal rank fusion, as the turn arms'
RRF_K = 5.0  # fusion.RRF_K: the two window rankings merge as the turn arms do


def first_start(seq: int) -> int:
    """The start of the first window that holds `seq` or anything after it.

    Windows start at 1, 1 + stride, 1 + 2 * stride, ...; the one holding `seq`
    with the lowest start is the earliest whose span reaches it."""
    lowest = max(1, seq - WINDOW_TURNS + 1)
    return 1 + -(-(lowest - 1) // WINDOW_STRIDE) * WINDOW_STRIDE


def spans(start: int, last: int) -> list[tuple[int, int]]:
    """The windows (first seq, last seq) from `start` (a window start) up to a
    conversation's `last` seq; the last one ends at `last` and no window lies
    wholly inside the one before it."""
    out = []
    for first in range(start, last + 1, WINDOW_STRIDE):
        out.append((first, min(first + WINDOW_TURNS - 1, last)))
        if first + WINDOW_TURNS - 1 >= last:
            break
    return out


Window = tuple[UUID, int]  # a window: its conversation and first seq


def by_vector_hits(rows: Iterable[Candidate]) -> list[Window]:
    """Windows ranked by the vector arm's rows inside them: each row (with its
    `conversation_id`, `first_seq` and `rank`) adds 1 / (RRF_K + rank) to both
    windows holding it; the best WINDOW_DEPTH, best first."""
    scores: dict[Window, float] = {}
    for r in rows:
        seq = r["first_seq"]
        for start in range(first_start(seq), seq + 1, WINDOW_STRIDE):
            key = (r["conversation_id"], start)
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + r["rank"])
    return sorted(scores, key=lambda key: (-scores[key], key[0].int, key[1]))[:WINDOW_DEPTH]


def fuse(lexical: Sequence[Window], by_vector: Sequence[Window]) -> list[Window]:
    """The best WINDOW_DEPTH windows of both window rankings (BM25 and the vector
    arm's hits), by reciprocal rank fusion with the turn arms' k and equal weights."""
    scores: dict[Window, float] = {}
    for arm in (lexical, by_vector):
        for rank, key in enumerate(arm, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores, key=lambda key: (-scores[key], key[0].int, key[1]))[:WINDOW_DEPTH]


def resolve(rows: Iterable[dict[str, Any]]) -> list[Candidate]:
    """The window arm's turns, best first, each with its `rank` (1, 2, ...).

    `rows` are the turns inside the hit windows, each with `window` (the
    window's rank, 1 = best) and `distance` (cosine distance to the query);
    a turn in two hit windows counts for the better one."""
    by_window: dict[int, list[dict]] = {}
    for r in rows:
        by_window.setdefault(r["window"], []).append(r)
    ranked: list[Candidate] = []
    seen: set[int] = set()
    for window in sorted(by_window):
        closest = sorted(by_window[window], key=lambda r: (r["distance"], r["id"]))[:TURNS_PER_WINDOW]
        for r in closest:
            if r["id"] not in seen:
                seen.add(r["id"])
                ranked.append(cast(Candidate, {**r, "rank": len(ranked) + 1}))
    return ranked
