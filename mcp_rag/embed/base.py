"""What every embedder is: a name, a dimension and texts in, unit vectors out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (a zero row stays zero)."""
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


def in_length_batches(
    texts: list[str], batch_size: int, dimension: int, embed_batch: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """`embed_batch` over batches of at most `batch_size` texts of similar length (sorting
    keeps padding, wasted compute, small inside each batch); rows in the texts' order."""
    out = np.zeros((len(texts), dimension), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        out[idx] = embed_batch([texts[i] for i in idx])
    return out
