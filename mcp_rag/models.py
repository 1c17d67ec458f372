"""Data that crosses a boundary: what comes in (conversations, messages,
search requests) and what goes out (hits, summaries, transcripts).

Validation lives here so every door rejects the same input the same way.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, WithJsonSchema, field_validator, model_validator

MAX_MESSAGE_CHARS = 200_000
MAX_MESSAGES_PER_REQUEST = 20_000
MAX_ID_CHARS = 512
MAX_PAGE = 1000  # messages or conversations in one page (here so doors can state it without the service)
# Messages either side of `around` when reading a conversation around a hit: 21 turns of chat,
# a few thousand tokens, context for a model without crowding out the rest of its own.
AROUND_BEFORE = 10
AROUND_AFTER = 10


def check_reference(value: str, what: str = "id") -> str:
    """An id given in a path or argument: storable text of sane length, in NFC as ids are stored."""
    if len(value) > MAX_ID_CHARS:
        raise ValueError(f"{what} is longer than {MAX_ID_CHARS} characters")
    return nfc(_clean_text(value, what))


def nfc(value: str) -> str:
    """Unicode's composed form: "é" typed as one code point or as "e" plus an accent (macOS file
    names, some keyboards) is one id, one author, one title. Message text is stored as given."""
    return unicodedata.normalize("NFC", value)


# Importers replace a JSON string longer than this many bytes (a text line longer than
# MAX_MESSAGE_CHARS) with CUT_TEXT while streaming, before the string is built; a value holding it is
# refused with the reason. 12 bytes per character is the most JSON can spend (an escaped surrogate
# pair), so no text within MAX_MESSAGE_CHARS is ever cut.
MAX_STRING_BYTES = 12 * MAX_MESSAGE_CHARS
CUT_TEXT = "\x00cut while reading\x00"


def _clean_text(value: str, what: str) -> str:
    if CUT_TEXT in value:
        raise ValueError(f"{what} is longer than {MAX_MESSAGE_CHARS:,} characters; cut while reading, not stored")
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL byte, which cannot be stored")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode (lone surrogate)") from None
    return value


MAX_METADATA_BYTES = 64_000
MAX_METADATA_DEPTH = 20


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    """JSON that PostgreSQL's jsonb can hold, bounded in size and depth."""

    def depth(v: Any, level: int = 1) -> int:
        if level > MAX_METADATA_DEPTH:
            return level
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
        return max((depth(c, level + 1) for c in children), default=level)

    if depth(value) > MAX_METADATA_DEPTH:
        raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
    try:
        encoded = json.dumps(value)
    except (TypeError, ValueError):
        raise ValueError("metadata is not JSON-serialisable") from None
    if json.dumps(CUT_TEXT)[1:-1] in encoded:
        _clean_text(CUT_TEXT, "a metadata text")
    if "\\u0000" in encoded:
        raise ValueError("metadata contains a NUL character, which cannot be stored")
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    _clean_text(encoded, "metadata")
    return value


def _iso_only(value: Any) -> Any:
    """Times are ISO 8601 strings (or datetimes); a bare number is ambiguous and refused."""
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("expected an ISO 8601 date-time string")
    return value


def _utc(value: datetime | None) -> datetime | None:
    """No zone means UTC; a time that only exists outside years 1-9999 once in UTC
    ("9999-12-31T23:59:59-01:00") is refused here rather than by the database."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range: in UTC it falls outside the years 1 to 9999") from None
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class MessageIn(_In):
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
        _clean_text(v, "content")
        if not v.strip():
            raise ValueError("content is empty")
        return v

    @field_validator("id", "author", "role")
    @classmethod
    def _short(cls, v: str | None) -> str | None:
        return None if v is None else nfc(_clean_text(v, "field"))

    @field_validator("timestamp", mode="before")
    @classmethod
    def _ts_type(cls, v: Any) -> Any:
        return _iso_only(v)

    @field_validator("timestamp")
    @classmethod
    def _ts(cls, v: datetime | None) -> datetime | None:
        return _utc(v)

    @field_validator("metadata")
    @classmethod
    def _meta(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_metadata(v)


class ConversationIn(_In):
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
        return None if v is None else nfc(_clean_text(v, "field"))

    @field_validator("metadata")
    @classmethod
    def _meta(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_metadata(v)


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


TIME_HELP = (
    "ISO 8601, or words such as 'yesterday', 'last week', 'in March 2024', 'since Monday', '2 days ago' "
    "(read against `now` in `timezone`)"
)
# A time in a filter: a string on the wire (ISO 8601 or words, `dates.resolve`), a UTC datetime once read.
TimeFilter = Annotated[
    datetime | None, WithJsonSchema({"anyOf": [{"type": "string", "maxLength": 100}, {"type": "null"}]})
]


class SearchFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversation_id: str | None = Field(None, description="Conversation id (uuid or your id)")
    author: str | None = Field(
        None,
        max_length=256,
        description="Turns by this person: case and accents ignored, whole name parts ('kate' finds 'Kate Moreno')",
    )
    role: str | None = Field(None, max_length=32)
    source: str | None = Field(None, max_length=100, description="e.g. slack; case ignored")
    since: TimeFilter = Field(None, description="Only turns at or after this time: " + TIME_HELP)
    until: TimeFilter = Field(None, description="Only turns at or before this time: " + TIME_HELP)
    timezone: str | None = Field(None, max_length=64, description="IANA zone for times in words (default UTC)")
    now: datetime | None = Field(None, description="What 'now' is for times in words (default: the server's clock)")
    metadata: dict[str, Any] | None = Field(None, description="Conversation metadata must contain this")
    # The stored author names `author` resolves to (`Service.resolve_filters`); the store matches any of them.
    _author_names: list[str] | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _times_in_words(cls, data: Any) -> Any:
        """Resolve since/until given as text against `now` in `timezone`, so every door reads them alike."""
        if not isinstance(data, dict) or not any(isinstance(data.get(k), str) for k in ("since", "until")):
            return data
        from mcp_rag import dates

        data = dict(data)
        tz = dates.zone(data.get("timezone"))
        now = data.get("now") or datetime.now(UTC)
        if isinstance(now, str):
            now = datetime.fromisoformat(now.replace("Z", "+00:00"))
        now = now if now.tzinfo else now.replace(tzinfo=tz)
        for key, bound in (("since", "start"), ("until", "end")):
            if isinstance(data.get(key), str):
                try:
                    data[key] = dates.resolve(data[key], bound, now, tz)
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from None
        data["now"] = now
        return data

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            from mcp_rag import dates

            dates.zone(v)
        return v

    @field_validator("now")
    @classmethod
    def _now(cls, v: datetime | None) -> datetime | None:
        return _utc(v)

    @field_validator("since", "until", mode="before")
    @classmethod
    def _ts_type(cls, v: Any) -> Any:
        return _iso_only(v)

    @field_validator("since", "until")
    @classmethod
    def _ts(cls, v: datetime | None) -> datetime | None:
        return _utc(v)

    @field_validator("conversation_id", "author", "role", "source")
    @classmethod
    def _filter_text(cls, v: str | None) -> str | None:
        return None if v is None else nfc(_clean_text(v, "filter"))

    @field_validator("metadata")
    @classmethod
    def _filter_meta(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if v is None else _check_metadata(v)

    def filters(self) -> SearchFilters:
        """Just the filters of a search or ask request."""
        return SearchFilters(**self.model_dump(include=set(SearchFilters.model_fields)))

    def with_authors(self, names: list[str]) -> SearchFilters:
        """A copy whose author filter matches exactly these stored names."""
        copy = self.model_copy()
        copy._author_names = names
        return copy

    def author_names(self) -> list[str]:
        """The stored names the author filter matches (just `author` until resolved)."""
        if self._author_names is not None:
            return self._author_names
        return [self.author] if self.author else []


class AppliedFilters(BaseModel):
    """The filters as applied, echoed in a reply: times absolute, an author as the stored names it matched."""

    authors: list[str] | None = Field(None, description="The stored author names the author filter matched")
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    now: datetime | None = Field(None, description="The 'now' that times in words were read against")
    timezone: str | None = None

    @classmethod
    def of(cls, filters: SearchFilters) -> AppliedFilters | None:
        if not any((filters.author, filters.source, filters.since, filters.until)):
            return None
        return cls(
            authors=filters.author_names() if filters.author else None,
            source=filters.source,
            since=filters.since,
            until=filters.until,
            now=filters.now if (filters.since or filters.until) else None,
            timezone=(filters.timezone or "UTC") if (filters.since or filters.until) else None,
        )


class SearchRequest(SearchFilters):
    query: str = Field(..., min_length=1, max_length=4000)
    top_k: int = Field(10, ge=1, le=100)

    @field_validator("query")
    @classmethod
    def _query(cls, v: str) -> str:
        _clean_text(v, "query")
        if not v.strip():
            raise ValueError("query is empty")
        return v


class Hit(BaseModel):
    conversation_id: UUID
    conversation_external_id: str
    title: str | None
    source: str | None
    message_ids: list[str] = Field(description="Your ids of the messages this hit covers")
    first_seq: int = Field(description="Position (1-based) in its conversation of the first message it covers")
    last_seq: int = Field(description="Position of the last message it covers")
    message_count: int = Field(description="How many messages its conversation holds")
    text: str
    authors: list[str]
    started_at: datetime | None
    ended_at: datetime | None
    score: float = Field(description="Fused rank score: orders the hits of one search, means nothing across searches")
    relevance: float = Field(
        0.0, ge=0, le=1, description="How likely this hit answers the query (0-1, calibrated; see `match`)"
    )
    match: Literal["strong", "weak"] = Field(
        "weak", description="strong: relevance >= 0.5, the hit is likely on topic; weak: only the nearest there is"
    )


class SearchResult(BaseModel):
    query: str
    hits: list[Hit]
    took_ms: float
    relevant: bool = Field(
        False,
        description="True when at least one hit is a strong match; false: nothing stored is close "
        "to the query and the hits are only the nearest turns",
    )
    filters: AppliedFilters | None = Field(None, description="The filters as applied (times absolute)")


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


class ChatTurn(_In):
    """A prior turn of the asker's own chat, used to rewrite a follow-up question."""

    role: Literal["user", "assistant"]
    content: str = Field(..., max_length=20_000)

    @field_validator("content")
    @classmethod
    def _content(cls, v: str) -> str:
        return _clean_text(v, "history content")


class AskRequest(SearchFilters):
    """A question, with the same filters as search (they scope the retrieval)."""

    question: str = Field(..., min_length=1, max_length=4000)
    top_k: int = Field(8, ge=1, le=50, description="How many search hits to answer from")
    history: list[ChatTurn] = Field(default_factory=list, max_length=50, description="Prior turns, oldest first")
    stream: bool = Field(False, strict=True, description="Reply as server-sent events")

    @field_validator("question")
    @classmethod
    def _question(cls, v: str) -> str:
        _clean_text(v, "question")
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
