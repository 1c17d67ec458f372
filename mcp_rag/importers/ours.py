"""Our own format: conversation objects as a JSON object, a JSON array or JSON Lines.

The same reader serves `mcp-rag ingest` and `mcp-rag import`, so there is one
parser of our format. A record is validated whole, like a POST to
/v1/conversations: a bad message rejects its conversation, with the path to it.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from mcp_rag.importers.base import Entry, Item, Parsed, Problem, explain
from mcp_rag.importers.jsonstream import records
from mcp_rag.models import ConversationIn

NAME = "json"


def looks_like(record: object) -> bool:
    return isinstance(record, dict) and isinstance(record.get("messages"), list)


def read(entry: Entry) -> Iterator[Item]:
    for location, value in records(entry):
        if isinstance(value, Exception):
            yield Problem(location, str(value))
        elif not isinstance(value, dict):
            yield Problem(location, "expected a conversation object with messages")
        else:
            try:
                yield Parsed(location, ConversationIn.model_validate(value))
            except ValidationError as exc:
                yield Problem(location, explain(exc))
