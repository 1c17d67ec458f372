"""Questions and cited answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from mcp_rag.models.search import AppliedFilters, Hit, SearchFilters
from mcp_rag.models.text import Incoming, clean_text


class ChatTurn(Incoming):
    """A prior turn of the asker's own chat, used to rewrite a follow-up question."""

    role: Literal["user", "assistant"]
    content: str = Field(..., max_length=20_000)

    @field_validator("content")
    @classmethod
    def _content(cls, v: str) -> str:
        return clean_text(v, "history content")


class AskRequest(SearchFilters):
    """A question, with the same filters as search (they scope the retrieval)."""

    question: str = Field(..., min_length=1, max_length=4000)
    top_k: int = Field(8, ge=1, le=50, description="How many search hits to answer from")
    history: list[ChatTurn] = Field(default_factory=list, max_length=50, description="Prior turns, oldest first")
    stream: bool = Field(False, strict=True, description="Reply as server-sent events")

    @field_validator("question")
    @classmethod
    def _question(cls, v: str) -> str:
        clean_text(v, "question")
        if not v.strip():
            raise ValueError("question is empty")
        return v


class Citation(BaseModel):
    n: int = Field(description="The number the answer text uses, as [n]")
    conversation_id: UUID
    conversation_external_id: str
    title: str | None
    message_ids: list[str]
    quote: str
    timestamp: datetime | None


class Answer(BaseModel):
    answer: str
    found: bool = Field(
        description="False when the stored conversations hold no answer: `answer` then says so, "
        "`citations` is empty and `sources` holds only the nearest (weak) hits"
    )
    citations: list[Citation]
    extractive: bool = Field(description="True when no language model wrote the answer")
    provider: Literal["extractive", "openai", "anthropic", "openai-compatible"]
    model: str | None
    question: str = Field(description="The standalone question that was searched (rewritten from history)")
    sources: list[Hit]
    error: str | None = Field(None, description="Why the provider failed; the answer then fell back or is empty")
    filters: AppliedFilters | None = Field(None, description="The filters as applied (times absolute)")
