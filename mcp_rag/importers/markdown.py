"""Markdown chats, as chat tools and people save them:

    ## User                      **Kate:** are we still on for Friday?
    How do I ...                 **Emi**: yes, 7pm
    ## Assistant
    You can ...

A speaker heading's body runs to the next speaker heading (code blocks and
lists included). A heading is a speaker when its text is a role name (User,
Assistant, ChatGPT, Claude, ...) or recurs as a heading; other headings, such
as a `# Title` at the top, stay text (the first one titles the conversation).

In a file with speaker headings, bold labels (`**Step 1:** ...`, `**Note:**`)
are part of the answer. Otherwise a `**Name:**` line starts a turn unless Name
reads as a label inside an answer (it holds a digit, or is Note, Step, Tip,
Warning, ...). Nothing inside a fenced code block is a speaker (`# Usage`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator

from mcp_rag.importers.base import Entry, Item
from mcp_rag.importers.transcript import ROLES, Code, Speech, collect, conversation

NAME = "markdown"
HEADING = re.compile(r"^#{1,6}\s+(?P<name>[^#\n]{1,60}?)\s*:?\s*$")
BOLD = re.compile(r"^\*\*(?P<name>[^*\n]{1,40}?)(?::\*\*|\*\*\s*:)\s*(?P<text>.*)$")
LABELS = {
    "note", "notes", "step", "tip", "tips", "warning", "caution", "important", "example", "examples", "update",
    "edit", "summary", "result", "output", "error", "hint", "solution", "option", "reminder", "ps", "p.s", "tl;dr",
    "tldr", "todo", "pros", "cons", "bonus", "caveat", "disclaimer", "source", "sources", "why", "usage",
}  # fmt: skip
RULE = re.compile(r"^\s*(?:---+|\*\*\*+|___+)\s*$")


def _speaker_headings(lines: Iterable[str]) -> set[str]:
    counts = Counter(m["name"].strip() for m in map(HEADING.match, lines) if m)
    return {n for n, c in counts.items() if n.lower() in ROLES or (c >= 2 and len(n.split()) <= 4)}


def _speaker_labels(lines: Iterable[str]) -> set[str]:
    names = {m["name"].strip() for m in map(BOLD.match, lines) if m}
    return {n for n in names if n.lower() in ROLES or not _label(n)} or names


def _label(name: str) -> bool:
    """`Step 1`, `Note`, `Tip`: bold words that head part of an answer rather than name who speaks."""
    return any(c.isdigit() for c in name) or name.split()[0].lower().rstrip(".") in LABELS


def sniff(head: list[str]) -> bool:
    head = list(Code(head).prose(head))
    bold = sum(1 for line in head if BOLD.match(line))
    headings = sum(1 for line in head if HEADING.match(line))
    return bold >= 2 or (bool(_speaker_headings(head)) and headings >= 2)


def read(entry: Entry) -> Iterator[Item]:
    code = Code(entry.text_lines(counted=False))
    headings = _speaker_headings(code.prose(entry.text_lines(counted=False)))
    labels = set() if headings else _speaker_labels(code.prose(entry.text_lines(counted=False)))
    title: str | None = None
    for line in code.prose(entry.text_lines(counted=False)):
        m = HEADING.match(line)
        if m and m["name"].strip() not in headings:
            title = m["name"].strip()
            break
        if m or BOLD.match(line):
            break

    def match(line: str) -> Speech | None:
        h = HEADING.match(line)
        if h and h["name"].strip() in headings:
            return h["name"].strip(), None, ""
        b = BOLD.match(line)
        if b and b["name"].strip() in labels:
            return b["name"].strip(), None, b["text"]
        return None

    # Horizontal rules separate turns in many saved chats; they are not part of what was said.
    lines = ("" if RULE.match(line) and i not in code else line for i, line in enumerate(entry.text_lines(), 1))
    yield from conversation(entry, NAME, collect(lines, match, code), title)
