"""Search: the filters every door takes (times in words included), requests, hits and results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, WithJsonSchema, field_validator, model_validator

from mcp_rag.models.text import check_metadata, clean_text, iso_only, nfc, utc

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
        bounds: tuple[tuple[str, dates.Bound], ...] = (("since", "start"), ("until", "end"))
        for key, bound in bounds:
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
        return utc(v)

    @field_validator("since", "until", mode="before")
    @classmethod
    def _ts_type(cls, v: Any) -> Any:
        return iso_only(v)

    @field_validator("since", "until")
    @classmethod
    def _ts(cls, v: datetime | None) -> datetime | None:
        return utc(v)

    @field_validator("conversation_id", "author", "role", "source")
    @classmethod
    def _filter_text(cls, v: str | None) -> str | None:
        return None if v is None else nfc(clean_text(v, "filter"))

    @field_validator("metadata")
    @classmethod
    def _filter_meta(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if v is None else check_metadata(v)

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
        clean_text(v, "query")
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
