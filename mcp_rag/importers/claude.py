"""Claude export: `conversations.json`, an array of conversations with `chat_messages`.

Each message has a sender (human or assistant), its text (older exports) or
content blocks (newer ones: text, tool use, ...), and may carry attachments
and files, which are named in the text so that a search for the file finds
the turn. An artifact is named (`[artifact: Packing list]`); other tool calls
are left out. Where the export could not render a block, Claude wrote a
placeholder ("This block is not supported on your current device yet.") in
the message's flat text: it is never stored, and a turn left with no text is
skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mcp_rag.importers.base import Entry, Item, Problem, dict_of, list_of, message, parts, text_of
from mcp_rag.importers.jsonstream import records

NAME = "claude"
ROLES = {"human": ("user", "User"), "assistant": ("assistant", "Claude")}
PLACEHOLDER = re.compile(r"\s*(?:```\s*)?This block is not supported on your current device yet\.(?:\s*```)?\s*")


def looks_like(record: object) -> bool:
    return isinstance(record, dict) and isinstance(record.get("chat_messages"), list)


def read(entry: Entry) -> Iterator[Item]:
    for location, value in records(entry):
        if isinstance(value, Exception):
            yield Problem(location, str(value))
        elif not looks_like(value):
            yield Problem(location, "expected a Claude conversation with `chat_messages`")
        else:
            yield from _conversation(location, value)


def _conversation(location: str, conv: dict[str, Any]) -> Iterator[Item]:
    uuid = conv.get("uuid")
    if not isinstance(uuid, str) or not uuid:
        yield Problem(location, "conversation has no uuid")
        return
    fields = {
        "id": f"claude:{uuid}",
        "title": conv.get("name") if isinstance(conv.get("name"), str) and conv.get("name") else None,
        "source": NAME,
        "url": f"https://claude.ai/chat/{uuid}",
    }
    numbered = ((f"{location}.chat_messages[{i}]", m) for i, m in enumerate(conv["chat_messages"]))
    yield from parts(location, fields, (m for m in (_message(loc, raw) for loc, raw in numbered) if m is not None))


def _message(location: str, raw: Any) -> Any:
    if not isinstance(raw, dict):
        return Problem(location, "expected a message object")
    sender = raw.get("sender")
    if not isinstance(sender, str) or sender not in ROLES:
        return Problem(location, f"unknown sender {sender!r}")
    role, author = ROLES[sender]
    blocks = list_of(raw.get("content"))
    text = "\n".join(t for t in (_block_text(b) for b in blocks) if t.strip()) or text_of(raw.get("text"))
    text = PLACEHOLDER.sub("\n", text)
    names = [
        a["file_name"]
        for key in ("attachments", "files")
        for a in (raw.get(key) or [])
        if isinstance(a, dict) and isinstance(a.get("file_name"), str)
    ]
    text = "\n".join([text, *(f"[attachment: {n}]" for n in names)]).strip()
    if not text:
        return None
    return message(
        location,
        id=raw.get("uuid"),
        author=author,
        role=role,
        content=text,
        timestamp=raw.get("created_at"),
        metadata={"attachments": names} if names else {},
    )


def _block_text(block: Any) -> str:
    if not isinstance(block, dict):
        return ""
    if block.get("type") == "text":
        return text_of(block)
    tool = dict_of(block.get("input"))
    if block.get("type") == "tool_use" and block.get("name") == "artifacts" and isinstance(tool.get("title"), str):
        return f"[artifact: {tool['title']}]"
    return ""
