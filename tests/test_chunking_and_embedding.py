"""Chunk windows and the real offline ONNX embedder."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from mcp_rag.chunking import Turn, chunk_turns
from mcp_rag.embed import OnnxMiniLM


def turns(*lengths: int) -> list[Turn]:
    ts = datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
    return [Turn(i + 1, f"m{i + 1}", "Ann" if i % 2 else "Bob", None, "word " * n, ts) for i, n in enumerate(lengths)]


def test_chunks_never_cut_a_message_and_respect_the_window():
    chunks = chunk_turns(turns(30, 30, 30, 30, 30), max_words=70, max_messages=6)
    assert [c.message_ids for c in chunks] == [["m1", "m2"], ["m3", "m4"], ["m5"]]
    assert chunks[0].text.splitlines()[0].startswith("Bob (Monday 1 January 2024, 09:30): word")


def test_a_message_longer_than_the_window_is_split_and_points_back_to_itself():
    chunks = chunk_turns(turns(5, 250, 5), max_words=100, max_messages=6)
    assert [c.message_ids for c in chunks] == [["m1"], ["m2"], ["m2"], ["m2"], ["m3"]]
    assert sum(len(c.text.split()) for c in chunks[1:4]) == 250 + 3 * 6  # words + "Ann (Monday 1 January 2024, 09:30):"


def test_max_messages_bounds_a_window():
    chunks = chunk_turns(turns(*[1] * 7), max_words=100, max_messages=3)
    assert [len(c.message_ids) for c in chunks] == [3, 3, 1]


def test_embedder_gives_unit_vectors_that_rank_paraphrases_first():
    e = OnnxMiniLM(batch_size=2)
    v = e.embed(["I went skiing in the mountains", "We hit the ski slopes", "The invoice is overdue"])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_context_turns_are_indexed_but_not_returned():
    chunks = chunk_turns(turns(3, 4, 5), max_words=100, max_messages=1, context=1)
    middle = chunks[1]
    assert middle.message_ids == ["m2"] and middle.text.count("\n") == 0
    assert middle.index_text.splitlines() == [chunks[0].text, middle.text, chunks[2].text]


def test_rechunking_a_tail_uses_earlier_turns_only_as_context():
    chunks = chunk_turns(turns(3, 4, 5, 6), max_words=100, max_messages=1, context=2, emit_from=3)
    assert [c.message_ids for c in chunks] == [["m3"], ["m4"]]
    assert len(chunks[0].before) == 2 and len(chunks[1].after) == 0
