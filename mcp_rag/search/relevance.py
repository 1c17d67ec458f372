"""Relevance: how close a hit is to the query, on a scale that means the same for every query.

Fusion ranks by reciprocal rank, which orders hits well but says nothing about
whether the best one is any good: an unrelated query still gets a first hit
with a first hit's score. Two signals do carry that meaning:

- meaning: the cosine similarity between the query's and the chunk's
  embeddings (the vector arm's distance; a chunk the vector arm did not reach
  is no closer than the farthest one it did);
- words: the idf-weighted share of the query's terms that the hit's text
  holds. A query term no stored chunk contains weighs as much as the rarest
  term, so "the office wifi password" against chats that never say "wifi"
  misses a heavy word.

`relevance` is a logistic model of the two, fitted on the tune half of
REALTALK (odd-numbered chats): the hits holding an answerable question's
evidence against the hits of questions the chat cannot answer (built by
benchmarks/eval_answers.py from the other chats' questions), the two classes
weighted equally: a score from 0 to 1 whose midpoint is the boundary between
them, not a probability. `match` is "strong" at or above STRONG, else "weak".
On the tune half, 1.5% of answerable questions got no strong hit and 93% of
unanswerable ones did not either; on the held-out half, 5.5% and 86%.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from mcp_rag.search import bm25, terms

# relevance = sigmoid(INTERCEPT + COSINE_WEIGHT * cosine + WORDS_WEIGHT * words)
INTERCEPT = -12.0
COSINE_WEIGHT = 21.2
WORDS_WEIGHT = 9.7
STRONG = 0.5


def words_share(query_terms: Sequence[str], text: str, idf: Mapping[str, float]) -> float:
    """The idf-weighted share of the query's terms found in `text` (0 to 1)."""
    wanted = {t: idf[t] for t in query_terms}
    total = sum(wanted.values())
    if not total:
        return 0.0
    have = set(terms.terms(text))
    return sum(w for t, w in wanted.items() if t in have) / total


def query_idf(query: str, dfs: Mapping[int, int], docs: int) -> dict[str, float]:
    """idf of each query term against the namespace (document frequencies by term id)."""
    return {t: bm25.idf(dfs.get(terms.term_id(t), 0), max(docs, 1)) for t in terms.terms(query)}


def score(cosine: float, words: float) -> float:
    """The calibrated relevance of one hit, 0 to 1."""
    z = INTERCEPT + COSINE_WEIGHT * cosine + WORDS_WEIGHT * words
    return 1.0 / (1.0 + math.exp(-z))


def assess(query: str, rows: list[dict], farthest: float | None, dfs: Mapping[int, int], docs: int) -> None:
    """Set `relevance` and `match` on each hit row (with `text` and, when the vector arm
    reached it, `dist`); `farthest` is the vector arm's largest distance (None: empty arm)."""
    idf = query_idf(query, dfs, docs)
    query_terms = list(dict.fromkeys(idf))
    floor = 1.0 - farthest if farthest is not None else 0.0
    for r in rows:
        cosine = 1.0 - r["dist"] if r.get("dist") is not None else floor
        r["cosine"] = cosine
        r["words"] = words_share(query_terms, r["text"], idf)
        r["relevance"] = score(cosine, r["words"])
        r["match"] = "strong" if r["relevance"] >= STRONG else "weak"
