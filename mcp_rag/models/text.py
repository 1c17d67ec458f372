"""Bounds and checks of the text, metadata and times every model stores: the limits doors
state, ids in NFC, no NUL or lone surrogate, JSON metadata bounded in size and depth,
times in UTC."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_MESSAGE_CHARS = 200_000
MAX_MESSAGES_PER_REQUEST = 20_000
MAX_ID_CHARS = 512
MAX_PAGE = 1000  # messages or conversations in one page (here so doors can state it without the service)
# Messages either side of `around` when reading a conversation around a hit: 21 turns of chat,
# a few thousand tokens, context for a model without crowding out the rest of its own.
AROUND_BEFORE = 10
AROUND_AFTER = 10
DEFAULT_NAMESPACE = "default"  # where everything goes unless a token or a flag names another


def check_reference(value: str, what: str = "id") -> str:
    """An id given in a path or argument: storable text of sane length, in NFC as ids are stored."""
    if len(value) > MAX_ID_CHARS:
        raise ValueError(f"{what} is longer than {MAX_ID_CHARS} characters")
    return nfc(clean_text(value, what))


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


def clean_text(value: str, what: str) -> str:
    """`value` when PostgreSQL can store it as text, else a ValueError naming `what`."""
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


def check_metadata(value: dict[str, Any]) -> dict[str, Any]:
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
        clean_text(CUT_TEXT, "a metadata text")
    if "\\u0000" in encoded:
        raise ValueError("metadata contains a NUL character, which cannot be stored")
    if len(encoded) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    clean_text(encoded, "metadata")
    return value


def iso_only(value: Any) -> Any:
    """Times are ISO 8601 strings (or datetimes); a bare number is ambiguous and refused."""
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("expected an ISO 8601 date-time string")
    return value


def utc(value: datetime | None) -> datetime | None:
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


class Incoming(BaseModel):
    """What a caller sends: unknown fields are ignored, text is kept as given."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)
