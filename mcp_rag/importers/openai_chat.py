"""OpenAI-style chats: a list of {"role", "content"} messages (one conversation),
or records of {"messages": [...]} as in chat fine-tuning files.

Content may be a string or a list of parts ({"type": "text", "text": ...});
images become "[image]". These files carry no conversation id, so one is
derived from the file name and the first messages: a re-run, or the same chat
exported again with more turns, finds the same conversation and appends.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from mcp_rag.importers.base import Entry, Item, Problem, message, parts, stable_id, text_of
from mcp_rag.importers.jsonstream import first_record, records
from mcp_rag.models import MessageIn

NAME = "openai"
SOURCE = "openai"


def looks_like_message(record: object) -> bool:
    return isinstance(record, dict) and "role" in record and "content" in record and "messages" not in record


def looks_like(record: object) -> bool:
    """A {"messages": [...]} record whose messages have list content (our format needs strings)."""
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list) or not record["messages"]:
        return False
    first = record["messages"][0]
    return looks_like_message(first) and not isinstance(first.get("content"), str)


def read(entry: Entry) -> Iterator[Item]:
    shape, first = first_record(entry)
    if shape == "array" and looks_like_message(first):
        yield from _conversation(entry.name, entry.basename, None, records(entry))
        return
    for location, value in records(entry):
        if isinstance(value, Exception):
            yield Problem(location, str(value))
        elif not isinstance(value, dict) or not isinstance(value.get("messages"), list):
            yield Problem(location, 'expected {"messages": [{"role", "content"}, ...]}')
        else:
            numbered = ((f"{location}.messages[{i}]", m) for i, m in enumerate(value["messages"]))
            yield from _conversation(location, entry.basename, value.get("id"), numbered, value.get("title"))


def _conversation(
    location: str, basename: str, given_id: Any, numbered: Iterable[tuple[str, Any]], title: Any = None
) -> Iterator[Item]:
    messages = (_message(i, loc, raw) for i, (loc, raw) in enumerate(numbered, start=1))
    head = list(itertools.islice(messages, 3))
    if given_id is None:
        key = [(m.role, m.content) for m in head if isinstance(m, MessageIn)]
        given_id = stable_id(SOURCE, basename, key)
    fields = {"id": given_id, "title": title if isinstance(title, str) else None, "source": SOURCE}
    yield from parts(location, fields, (m for m in itertools.chain(head, messages) if m is not None))


def _message(index: int, location: str, raw: Any) -> MessageIn | Problem | None:
    if isinstance(raw, Exception):
        return Problem(location, str(raw))
    if not looks_like_message(raw):
        return Problem(location, 'expected {"role", "content"}')
    content = text_of(raw["content"])
    if not content.strip():
        return None  # tool calls and empty assistant turns carry no text to remember
    role = raw["role"] if isinstance(raw["role"], str) else None
    author = raw.get("name") if isinstance(raw.get("name"), str) else role
    return message(location, id=str(index), role=role, author=author, content=content)
