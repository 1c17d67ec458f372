"""Which importer reads a file: decided from its content, not its name.

JSON is told apart by the shape of its first record (a ChatGPT `mapping`, a
Claude `chat_messages`, a `{"role", "content"}` message, our `messages`);
text by the shape of its first lines (WhatsApp's dated lines, Markdown
speakers, `Name:` lines). In a folder or zip, the folder holding
`channels.json` (or the other channel lists) is a Slack export; every other
file is detected on its own, and files of no known format are passed over
(those that are broken JSON are named: `unknown_reason`).
"""

from __future__ import annotations

from mcp_rag.errors import Invalid
from mcp_rag.importers import chatgpt, claude, markdown, openai_chat, ours, transcript, whatsapp
from mcp_rag.importers.base import Entry
from mcp_rag.importers.jsonstream import first_char, first_record

READABLE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".txt", ".md", ".markdown")


def detect(entry: Entry) -> str | None:
    """The format name for this file, or None when it is none we read."""
    text = entry.head().decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if text[:1] in ("[", "{"):
        found = _json_format(entry)
        if found or text[:1] == "{":
            return found
        # "[" may also open a WhatsApp line ("[12/01/2024, 20:14:03] Kate: ...").
    head = text.splitlines()[: transcript.SNIFF_LINES]
    for module in (whatsapp, markdown, transcript):
        if module.sniff(head):
            return module.NAME
    return None


def _json_format(entry: Entry) -> str | None:
    shape, record = first_record(entry)
    if shape == "array" and openai_chat.looks_like_message(record):
        return openai_chat.NAME
    for module in (chatgpt, claude, openai_chat, ours):
        if module.looks_like(record):
            return module.NAME
    return None


def unknown_reason(entry: Entry) -> str | None:
    """Why a file that opens like JSON is in no format we read, when the reason is that it is broken
    (truncated, a syntax error): worth saying instead of "no known format"."""
    if first_char(entry) not in ("[", "{"):
        return None
    _, record = first_record(entry)
    return str(record) if isinstance(record, Invalid) else None
