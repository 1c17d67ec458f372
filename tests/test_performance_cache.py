"""The query-embedding cache: a repeated query is not embedded again, entries are
kept per model, the oldest go first, and cached vectors cannot be changed."""

from __future__ import annotations

import numpy as np
import pytest

from mcp_rag import metrics
from mcp_rag.embed import QueryCache
from mcp_rag.models import ConversationIn, SearchRequest
from mcp_rag.service import Service


def _embed_calls() -> float:
    return next(s.value for s in metrics.embedding_batch.collect()[0].samples if s.name.endswith("_count"))


class LengthEmbedder:
    """A second, distinguishable model: the cache must never hand its vectors to another model."""

    dimension = 2

    def __init__(self, name: str):
        self.name = name
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        return np.array([[len(t), 1.0 if self.name == "a" else -1.0] for t in texts], dtype=np.float32)


def test_repeating_a_search_does_not_embed_the_query_again(service: Service):
    service.ingest(ConversationIn(id="ski", messages=[{"author": "Kate", "content": "we ski at Verbier in March"}]))
    query = "where do we ski in march (cache test)"
    before = _embed_calls()
    first = service.search(SearchRequest(query=query))
    after_first = _embed_calls()
    second = service.search(SearchRequest(query=query))
    assert after_first == before + 1
    assert _embed_calls() == after_first
    assert [h.message_ids for h in second.hits] == [h.message_ids for h in first.hits]


def test_the_cache_keeps_vectors_per_model():
    cache = QueryCache()
    a, b = LengthEmbedder("a"), LengthEmbedder("b")
    assert cache.embed(a, "hello")[1] == 1.0
    assert cache.embed(b, "hello")[1] == -1.0  # same text, other model: embedded again, not served a's vector
    assert cache.embed(a, "hello")[1] == 1.0
    assert (a.calls, b.calls) == (1, 1)


def test_the_least_recently_used_query_is_evicted_first():
    cache, model = QueryCache(maxsize=2), LengthEmbedder("a")
    cache.embed(model, "one")
    cache.embed(model, "two")
    cache.embed(model, "one")  # "two" is now the oldest
    cache.embed(model, "three")
    assert len(cache) == 2
    calls = model.calls
    cache.embed(model, "one")
    assert model.calls == calls
    cache.embed(model, "two")
    assert model.calls == calls + 1


def test_cached_vectors_are_read_only():
    vector = QueryCache().embed(LengthEmbedder("a"), "hello")
    with pytest.raises(ValueError):
        vector[0] = 0
