"""Reply models of the MCP tools that are not the service's own: compact search results
(each conversation's fields once), import runs and their progress."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import pydantic_core
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from mcp_rag.importers.report import ImportResult
from mcp_rag.models import AppliedFilters, SearchResult


class DeletedConversation(BaseModel):
    id: UUID = Field(description="Our id of the conversation that was deleted")
    deleted: bool = True


class ConversationRef(BaseModel):
    external_id: str
    title: str | None = None
    source: str | None = None
    message_count: int


class CompactHit(BaseModel):
    conversation_id: UUID = Field(description="Key into `conversations`")
    message_ids: list[str]
    first_seq: int = Field(description="Position of its first message in the conversation (1-based)")
    last_seq: int
    text: str = Field(description="The turns, one per line: author (date): text")
    score: float
    match: Literal["strong", "weak"] = Field(description="strong: likely on topic; weak: only the nearest there is")
    # With detail=true only: what `conversations` and the text already say, repeated on the hit.
    conversation_external_id: str | None = None
    title: str | None = None
    source: str | None = None
    authors: list[str] | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


DETAIL_FIELDS = {"conversation_external_id", "title", "source", "authors", "started_at", "ended_at"}


class CompactSearch(BaseModel):
    """A search reply with each conversation's fields once (in `conversations`) instead of on every hit."""

    query: str
    hits: list[CompactHit]
    conversations: dict[str, ConversationRef] = Field(description="The hits' conversations, by our id")
    filters: AppliedFilters | None = None
    relevant: bool = Field(description="False when no hit is a strong match: nothing stored is close to the query")

    @classmethod
    def of(cls, result: SearchResult, detail: bool = False) -> CompactSearch:
        convs = {
            str(h.conversation_id): ConversationRef(
                external_id=h.conversation_external_id, title=h.title, source=h.source, message_count=h.message_count
            )
            for h in result.hits
        }
        hits = [
            CompactHit(
                conversation_id=h.conversation_id,
                message_ids=h.message_ids,
                first_seq=h.first_seq,
                last_seq=h.last_seq,
                text=h.text,
                score=round(h.score, 4),
                match=h.match,
                **(h.model_dump(include=DETAIL_FIELDS) if detail else {}),
            )
            for h in result.hits
        ]
        return cls(query=result.query, hits=hits, conversations=convs, filters=result.filters, relevant=result.relevant)


class ImportProgress(BaseModel):
    conversations: int = Field(description="Conversations created so far")
    messages: int = Field(description="Messages stored so far")
    bytes_done: int
    bytes_total: int
    seconds: float
    messages_per_second: float


class ImportRun(BaseModel):
    """An import: its result when it finished within this call, else its id and progress so far."""

    complete: bool
    job_id: str = Field(description="Pass to import_status to wait for the rest")
    progress: ImportProgress | None = None
    result: ImportResult | None = None


def compact_json(model: BaseModel) -> CallToolResult:
    """A tool result whose text is the structured content as compact JSON (the SDK's default indents it)."""
    data = model.model_dump(mode="json", exclude_none=True)
    text = pydantic_core.to_json(data).decode()
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)
