"""Markdown chats, as chat tools and people save them:

    ## User                      **Kate:** are we still on for Friday?
    How do I ...                 **Emi**: yes, 7pm
    ## Assistant
    You can ...

A speaker heading's body runs to the next speaker heading (code blocks and
lists included). A heading is a speaker when its text is a role name (User,
Assistant, ChatGPT, Claude, ...) or recurs as a heading; other headings, such
as a `# Title` at the top, stay text (the first one titles the conversation).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from mcp_rag.importers.base import Entry, Item
from mcp_rag.importers.transcript import ROLES, collect, conversation

NAME = "markdown"
HEADING = re.compile(r"^#{1,6}\s+(?P<name>[^#\n]{1,60}?)\s*:?\s*$")
BOLD = re.compile(r"^\*\*(?P<name>[^*\n]{1,40}?)(?::\*\*|\*\*\s*:)\s*(?P<text>.*)$")
RULE = re.compile(r"^\s*(?:---+|\*\*\*+|___+)\s*$")


def _speaker_headings(lines) -> set[str]:
    counts = Counter(m["name"].strip() for m in map(HEADING.match, lines) if m)
    return {n for n, c in counts.items() if n.lower() in ROLES or (c >= 2 and len(n.split()) <= 4)}


def sniff(head: list[str]) -> bool:
    bold = sum(1 for line in head if BOLD.match(line))
    headings = sum(1 for line in head if HEADING.match(line))
    return bold >= 2 or (bool(_speaker_headings(head)) and headings >= 2)


def read(entry: Entry) -> Iterator[Item]:
    speakers = _speaker_headings(entry.text_lines(counted=False))
    title: str | None = None
    for line in entry.text_lines(counted=False):
        m = HEADING.match(line)
        if m and m["name"].strip() not in speakers:
            title = m["name"].strip()
            break
        if m or BOLD.match(line):
            break

    def match(line: str):
        h = HEADING.match(line)
        if h and h["name"].strip() in speakers:
            return h["name"].strip(), None, ""
        b = BOLD.match(line)
        if b:
            return b["name"].strip(), None, b["text"]
        return None

    # Horizontal rules separate turns in many saved chats; they are not part of what was said.
    lines = ("" if RULE.match(line) else line for line in entry.text_lines())
    yield from conversation(entry, NAME, collect(lines, match), title)
