"""ChatGPT export: `conversations.json`, an array of conversations whose
messages form a tree (`mapping`: node id → message, parent, children).

Regenerated answers and edited prompts are branches of that tree; the one the
user last saw ends at `current_node`, so we walk from it up to the root and
keep that path. Hidden system turns, tool calls and tool output are left out:
what is imported is the conversation as the user read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from mcp_rag.importers.base import Entry, Item, Problem, dict_of, message, parts, text_of
from mcp_rag.importers.jsonstream import records

NAME = "chatgpt"
AUTHORS = {"user": "User", "assistant": "ChatGPT"}
TEXT_TYPES = {"text", "multimodal_text"}


def looks_like(record: object) -> bool:
    return isinstance(record, dict) and isinstance(record.get("mapping"), dict)


def read(entry: Entry) -> Iterator[Item]:
    for location, value in records(entry):
        if isinstance(value, Exception):
            yield Problem(location, str(value))
        elif not looks_like(value):
            yield Problem(location, "expected a ChatGPT conversation with a `mapping` of messages")
        else:
            yield from _conversation(location, value)


def _conversation(location: str, conv: dict[str, Any]) -> Iterator[Item]:
    cid = conv.get("conversation_id") or conv.get("id")
    if not isinstance(cid, str) or not cid:
        yield Problem(location, "conversation has no id")
        return
    title = conv.get("title") if isinstance(conv.get("title"), str) else None
    fields = {
        "id": f"chatgpt:{cid}",
        "title": title,
        "source": NAME,
        "url": f"https://chatgpt.com/c/{cid}",
        "metadata": {"model": conv["default_model_slug"]} if isinstance(conv.get("default_model_slug"), str) else {},
    }
    path = current_branch(conv["mapping"], conv.get("current_node"))
    yield from parts(location, fields, _messages(location, path))


def current_branch(mapping: dict[str, Any], current: Any) -> list[dict[str, Any]]:
    """Nodes from the root to `current_node`; without a usable one, the newest branch (last children)."""
    if not isinstance(current, str) or current not in mapping:
        current = _newest_leaf(mapping)
    path, seen = [], set()
    while isinstance(current, str) and current in mapping and current not in seen:
        seen.add(current)  # a malformed export could loop; a tree cannot
        node = mapping[current]
        if not isinstance(node, dict):
            break
        path.append(node)
        current = node.get("parent")
    return path[::-1]


def _newest_leaf(mapping: dict[str, Any]) -> str | None:
    roots = [k for k, n in mapping.items() if isinstance(n, dict) and not n.get("parent")]
    current, seen = (roots[0] if roots else None), set()
    while current in mapping and current not in seen:
        seen.add(current)
        children = mapping[current].get("children") if isinstance(mapping[current], dict) else None
        if not isinstance(children, list) or not children or not isinstance(children[-1], str):
            break
        current = children[-1]
    return current


def _messages(location: str, path: list[dict[str, Any]]) -> Iterator[Any]:
    for node in path:
        msg = node.get("message")
        if not isinstance(msg, dict):
            continue
        author = dict_of(msg.get("author"))
        role = author.get("role")
        content = dict_of(msg.get("content"))
        meta = dict_of(msg.get("metadata"))
        if (
            role not in AUTHORS
            or content.get("content_type") not in TEXT_TYPES
            or msg.get("recipient", "all") != "all"
            or meta.get("is_visually_hidden_from_conversation")
        ):
            continue
        text = text_of(content.get("parts"))
        if not text.strip():
            continue
        extra = {"model": meta["model_slug"]} if isinstance(meta.get("model_slug"), str) else {}
        yield message(
            f"{location}.mapping[{node.get('id')!r}]",
            id=msg.get("id") or node.get("id"),
            author=AUTHORS[role],
            role=role,
            content=text,
            timestamp=_time(msg.get("create_time")),
            metadata=extra,
        )


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None
