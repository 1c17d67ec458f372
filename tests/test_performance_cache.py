"""The query-embedding cache: a repeated query is not embedded again, entries are
kept per model, the oldest go first, and cached vectors cannot be changed.
Queries that arrive while the model is busy are embedded together, in one call,
with the same vectors as alone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mcp_rag import metrics
from mcp_rag.embed import Embedder, QueryCache, get_embedder, get_query_embedder
from mcp_rag.errors import Unavailable
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


# -- micro-batching of concurrent query embeddings (real model, real threads) -----------
class GatedModel:
    """The real ONNX model, counted. Its first `hold` calls keep the model busy until the
    test opens the gate, so the queries that arrive meanwhile must queue behind them."""

    def __init__(self, inner: Embedder, fail_after_first: bool = False, hold: int = 1):
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.batches: list[list[str]] = []
        self.callers: list[int] = []
        self.busy = threading.Event()
        self.gate = threading.Event()
        self.fail_after_first = fail_after_first
        self.hold = hold

    def embed(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        self.callers.append(threading.get_ident())
        if len(self.batches) <= self.hold:
            if len(self.batches) == self.hold:
                self.busy.set()
            assert self.gate.wait(30)
        elif self.fail_after_first:
            raise Unavailable("model crashed")
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def minilm(settings) -> Embedder:
    return get_query_embedder(settings)  # what searches use: the int8 graph


def _embed_concurrently(cache: QueryCache, model: GatedModel, first: str, others: list[str]) -> dict:
    """`first` (one thread per held call) occupies the model; `others` arrive while it is busy.
    Returns slot -> vector or exception (slot -1 and below: the first queries)."""
    results: dict = {}

    def ask(query: str, slot: int) -> None:
        try:
            results[slot] = cache.embed(model, query)
        except Exception as exc:
            results[slot] = exc

    leads = [threading.Thread(target=ask, args=(f"{first} {k}", -1 - k)) for k in range(model.hold)]
    for t in leads:
        t.start()
    assert model.busy.wait(30)
    threads = [threading.Thread(target=ask, args=(q, i)) for i, q in enumerate(others)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # let them reach the queue; a late one only makes one more (still batched) call
    model.gate.set()
    for t in [*leads, *threads]:
        t.join(60)
        assert not t.is_alive()
    return results


def test_queries_arriving_while_the_model_is_busy_are_embedded_together_and_equal_solo_vectors(minilm):
    model = GatedModel(minilm)
    queries = [f"when did we talk about topic {i} last spring" for i in range(12)]
    results = _embed_concurrently(QueryCache(model_calls=1), model, "what is the plan for friday", queries)
    assert len(model.batches) <= 3  # 13 queries, 1 + (usually) 1 model calls
    assert max(len(b) for b in model.batches) >= 6
    for i, query in enumerate(queries):
        solo = minilm.embed([query])[0]
        assert np.allclose(results[i], solo, rtol=0, atol=1e-6)  # measured bit-identical


def test_without_batching_every_concurrent_query_is_its_own_model_call(minilm):
    model = GatedModel(minilm)
    queries = [f"who booked the hotel in city {i}" for i in range(6)]
    _embed_concurrently(QueryCache(model_calls=0), model, "what is the plan for friday", queries)
    assert sorted(len(b) for b in model.batches) == [1] * 7


def test_identical_queries_in_flight_share_one_embedding(minilm):
    model = GatedModel(minilm)
    queries = ["where do we ski in march"] * 8 + ["who pays for the boat"] * 4
    results = _embed_concurrently(QueryCache(model_calls=1), model, "what is the plan for friday", queries)
    embedded = [t for batch in model.batches[1:] for t in batch]
    assert sorted(embedded) == ["where do we ski in march", "who pays for the boat"]
    assert all(results[i] is results[0] for i in range(8))
    assert np.array_equal(results[8], minilm.embed(["who pays for the boat"])[0])


def test_a_model_error_reaches_every_query_of_the_batch_and_is_not_cached(minilm):
    model = GatedModel(minilm, fail_after_first=True)
    cache = QueryCache(model_calls=1)
    queries = [f"budget review number {i}" for i in range(5)]
    results = _embed_concurrently(cache, model, "what is the plan for friday", queries)
    assert isinstance(results[-1], np.ndarray)  # the first call itself succeeded
    assert all(isinstance(results[i], Unavailable) for i in range(5))
    model.fail_after_first = False
    assert np.array_equal(cache.embed(model, queries[0]), minilm.embed([queries[0]])[0])


def test_a_lone_query_is_embedded_at_once_by_its_own_thread(minilm):
    model = GatedModel(minilm)
    model.gate.set()
    vector = QueryCache(model_calls=1).embed(model, "just one question")
    assert model.batches == [["just one question"]]
    assert model.callers == [threading.get_ident()]
    assert np.array_equal(vector, minilm.embed(["just one question"])[0])


def test_with_two_model_calls_two_queries_run_at_once_and_later_ones_batch_behind_them(minilm):
    model = GatedModel(minilm, hold=2)  # both held calls must be under way at once, or the test times out
    queries = [f"which museum did we visit in town {i}" for i in range(8)]
    cache = QueryCache(model_calls=2)  # the default setting
    results = _embed_concurrently(cache, model, "what is the plan for friday", queries)
    assert [len(b) for b in model.batches[:2]] == [1, 1]
    assert len(model.batches) <= 4
    for i, query in enumerate(queries):
        assert np.array_equal(results[i], minilm.embed([query])[0])


def test_search_queries_and_stored_chunks_embed_on_their_own_thread_settings(settings):
    """A query is a few dozen tokens: by default its model runs on one thread, leaving the
    other cores to concurrent searches; chunks are embedded in batches on `embedding_threads`."""
    default = get_query_embedder(settings)
    custom = settings.model_copy(update={"query_embedding_threads": 2, "embedding_threads": 1})
    query, chunks = get_query_embedder(custom), get_embedder(custom)
    for model in (default, query, chunks):
        model.ensure_loaded()
    assert settings.query_embedding_threads == 1
    assert default._session.get_session_options().intra_op_num_threads == 1
    assert query._session.get_session_options().intra_op_num_threads == 2
    assert chunks._session.get_session_options().intra_op_num_threads == 1
    # Same model and space whatever the threads: one question, the same vector.
    np.testing.assert_allclose(default.embed(["where did we ski?"]), query.embed(["where did we ski?"]), atol=1e-5)


def test_openai_embeddings_serve_queries_and_chunks_with_one_client(settings):
    """Thread counts and the int8 query form belong to the offline model: with OpenAI one
    embedder (one HTTP client, no request made here) embeds both queries and chunks."""
    from pydantic import SecretStr

    remote = settings.model_copy(
        update={
            "embedding_provider": "openai",
            "embedding_model": "text-embedding-3-small",
            "openai_api_key": SecretStr("sk-test"),
        }
    )
    assert get_query_embedder(remote) is get_embedder(remote)
