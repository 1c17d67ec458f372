"""OpenAI's embeddings API, an option chosen by settings."""

from __future__ import annotations

import numpy as np

from mcp_rag.embed.base import unit_rows
from mcp_rag.errors import ConfigError, Unavailable


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
        return unit_rows(np.asarray(rows, dtype=np.float32))
