"""The rows that cross from the store's search arms to fusion and rerank."""

from __future__ import annotations

from typing import NotRequired, TypedDict
from uuid import UUID


class Candidate(TypedDict):
    """A chunk an arm found: its rank in that arm (1 = best) and what fusion and rerank read."""

    rank: int
    id: int
    conversation_id: UUID
    first_seq: int
    last_seq: int
    authors: list[str] | None
    dist: NotRequired[float]  # the vector arm's cosine distance (search.relevance reads it)


class Scored(Candidate):
    """A candidate of the fused pool, with its fused (then reranked) score."""

    score: float
