"""BM25 as an inner product, so that PostgreSQL can rank by it.

Okapi BM25 scores a chunk d for a query q as

    sum over terms t in q:  idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))

The right-hand factor depends only on the chunk, so it is computed once at
ingest and stored as a sparse vector (pgvector `sparsevec`); idf depends only
on the corpus and the query, so it is the query vector. Their inner product is
the BM25 score. PostgreSQL's `ts_rank` is not BM25: it has no idf and no
length normalisation against the corpus, and on conversation turns it ranks
clearly worse (see docs/RETRIEVAL.md).

avgdl is the namespace's mean chunk length when the chunk is written; it
drifts a little as the corpus grows, which moves scores far less than the
choice of k1 and b does.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

K1 = 1.2
B = 0.75


def document_weights(counts: Counter[int], avgdl: float, k1: float = K1, b: float = B) -> dict[int, float]:
    """Saturated, length-normalised term frequencies of one chunk."""
    length = sum(counts.values())
    if not length:
        return {}
    norm = k1 * (1 - b + b * length / max(avgdl, 1.0))
    return {t: tf * (k1 + 1) / (tf + norm) for t, tf in counts.items()}


def idf(df: int, docs: int) -> float:
    """Lucene's always-positive idf: rare terms weigh most, a term in every chunk still a little."""
    return math.log(1 + (docs - df + 0.5) / (df + 0.5))


def query_weights(counts: Counter[int], df: Mapping[int, int], docs: int) -> dict[int, float]:
    """idf of each query term found in the corpus (a term no chunk has cannot match)."""
    return {t: idf(df[t], docs) for t in counts if df.get(t)}


def candidate_terms(
    weights: Mapping[int, float], df: Mapping[int, int], budget: int, docs: int
) -> tuple[list[int], bool]:
    """The query terms whose chunks the BM25 arm scores, and whether a chunk must
    hold all of them (True) or any one (False).

    - Any one: every term while their document frequencies sum to at most
      `budget` (0: no limit), else the rarest ones that fit. The chunks left out
      hold only the query's commonest terms, the ones with the lowest idf, so
      they rarely reach the arm's top ranks.
    - All of them: when even the rarest term alone is in more than `budget`
      chunks (a query of common words on a large namespace), the chunks that
      hold the rarest terms together, rarest first, adding terms until the
      expected number of such chunks (docs × the product of df / docs, as if
      terms were independent) is within the budget. BM25's best scores go to
      chunks matching several query terms, and those are the ones kept.

    Every chunk that is scored gets its exact BM25 over all the query's terms.
    It bounds the arm's work on large namespaces, where a common word matches a
    large share of the chunks and exact BM25 must score them all
    (docs/design/bm25-in-postgresql.md).
    """
    if budget <= 0:
        return sorted(weights), False
    rarest = sorted(weights, key=lambda t: (df[t], t))
    if len(rarest) > 1 and df[rarest[0]] > budget:
        size = max(docs, 1)
        chosen, expected = [], float(size)
        for term in rarest:
            chosen.append(term)
            expected *= df[term] / size
            if expected <= budget:
                break
        return sorted(chosen), True
    chosen, total = [], 0
    for term in rarest:
        if chosen and total + df[term] > budget:
            break
        chosen.append(term)
        total += df[term]
    return sorted(chosen), False
