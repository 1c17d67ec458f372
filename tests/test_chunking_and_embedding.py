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
    assert chunks[0].text.splitlines()[0].startswith("Bob (2024-01-01 09:30): word")


def test_a_message_longer_than_the_window_is_split_and_points_back_to_itself():
    chunks = chunk_turns(turns(5, 250, 5), max_words=100, max_messages=6)
    assert [c.message_ids for c in chunks] == [["m1"], ["m2"], ["m2"], ["m2"], ["m3"]]
    assert sum(len(c.text.split()) for c in chunks[1:4]) == 250 + 3 * 3  # words + "Ann (date time):"


def test_max_messages_bounds_a_window():
    chunks = chunk_turns(turns(*[1] * 7), max_words=100, max_messages=3)
    assert [len(c.message_ids) for c in chunks] == [3, 3, 1]


def test_embedder_gives_unit_vectors_that_rank_paraphrases_first():
    e = OnnxMiniLM(batch_size=2)
    v = e.embed(["I went skiing in the mountains", "We hit the ski slopes", "The invoice is overdue"])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
