"""Conversations and messages: what is ingested, and what reading them back returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from mcp_rag.models.text import (
    MAX_ID_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES_PER_REQUEST,
    Incoming,
    check_metadata,
    clean_text,
    iso_only,
    nfc,
    utc,
)


class MessageIn(Incoming):
    id: str | None = Field(None, max_length=MAX_ID_CHARS, description="Your id for the message")
    author: str | None = Field(None, max_length=256, description="Who wrote it")
    role: str | None = Field(None, max_length=32, description="user, assistant, system, ...")
    content: str = Field(..., max_length=MAX_MESSAGE_CHARS, description="The message text")
    timestamp: datetime | None = Field(None, description="ISO 8601; no zone means UTC")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v  # true is no id

    @field_validator("content")
    @classmethod
    def _content(cls, v: str) -> str:
        clean_text(v, "content")
        if not v.strip():
            raise ValueError("content is empty")
        return v

    @field_validator("id", "author", "role")
    @classmethod
    def _short(cls, v: str | None) -> str | None:
        return None if v is None else nfc(clean_text(v, "field"))

    @field_validator("timestamp", mode="before")
    @classmethod
    def _ts_type(cls, v: Any) -> Any:
        return iso_only(v)

    @field_validator("timestamp")
    @classmethod
    def _ts(cls, v: datetime | None) -> datetime | None:
        return utc(v)

    @field_validator("metadata")
    @classmethod
    def _meta(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_metadata(v)


class ConversationIn(Incoming):
    id: str | None = Field(
        None,
        max_length=MAX_ID_CHARS,
        description="Your id for the conversation; re-ingesting the same id appends, never duplicates",
    )
    title: str | None = Field(None, max_length=1000)
    source: str | None = Field(None, max_length=100, description="e.g. slack, chatgpt, claude")
    url: str | None = Field(None, max_length=2000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    messages: list[MessageIn] = Field(..., min_length=1, max_length=MAX_MESSAGES_PER_REQUEST)

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v  # true is no id

    @field_validator("id", "title", "source", "url")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return None if v is None else nfc(clean_text(v, "field"))

    @field_validator("metadata")
    @classmethod
    def _meta(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_metadata(v)


class IngestResult(BaseModel):
    id: UUID
    external_id: str
    created: bool = Field(description="True when the conversation is new")
    messages_added: int
    messages_total: int
    chunks: int
    complete: bool = Field(True, description="False when the call stopped early to stay within its time limit")
    next_index: int | None = Field(
        None, description="When not complete: the index in the messages sent of the first one not yet stored"
    )


class Remembered(BaseModel):
    conversation_id: UUID = Field(description="Our id of the namespace's notes conversation")
    conversation_external_id: str
    message_id: str = Field(description="The note's message id in that conversation")
    author: str | None
    timestamp: datetime


class ConversationSummary(BaseModel):
    id: UUID
    external_id: str
    namespace: str
    title: str | None
    source: str | None
    url: str | None
    participants: list[str]
    metadata: dict[str, Any]
    started_at: datetime | None
    ended_at: datetime | None
    message_count: int
    created_at: datetime
    updated_at: datetime


class Message(BaseModel):
    id: str
    seq: int
    author: str | None
    role: str | None
    content: str
    timestamp: datetime | None
    metadata: dict[str, Any]


class Transcript(ConversationSummary):
    messages: list[Message]
    offset: int = Field(description="How many messages come before this page")
    limit: int
    around: str | None = Field(None, description="The message id this page was centred on, if any")


class ConversationPage(BaseModel):
    items: list[ConversationSummary]
    next_cursor: str | None
