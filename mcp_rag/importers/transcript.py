"""Plain transcripts: `Name: text` lines, optionally `[2024-01-02 10:00] Name: text`.

Also the machinery the other text dialects (WhatsApp, Markdown) share: turns
gathered from lines (a line that does not start a turn continues the one
before), and conversations built from turns with ids that survive re-runs.

A transcript carries no ids, so the conversation id comes from the file name
and its first turns, and message ids are positions (1, 2, ...). Importing the
same chat exported again later, with more turns at the end, appends the new
turns instead of duplicating the old ones.

Which `Word:` prefixes are speakers is decided by counting over the whole file
first: a name seen twice is a speaker, so a stray "Note: ..." inside a message
stays part of it. Nothing inside a fenced code block (```` ``` ```` or `~~~`,
closed) starts a turn: `Error: ...` in a pasted log is what was said.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

from mcp_rag.importers.base import Entry, Item, message, parts, stable_id

NAME = "transcript"
SNIFF_LINES = 60
MAX_SPEAKERS = 1000
ROLES = {
    "user": "user",
    "human": "user",
    "you": "user",
    "me": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "chatgpt": "assistant",
    "claude": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "system": "system",
}

_STAMP = r"(?:\[(?P<ts>[^\]]{4,40})\]\s*)?"
_NAME = r"(?P<name>[^\W\d_][\w .'’()&/-]{0,39}?)"
SPEAKER = re.compile(rf"^{_STAMP}{_NAME}\s*:\s+(?P<text>\S.*)$")
FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


class Code:
    """Line numbers (1-based) inside fenced code blocks, fences included. Only blocks that close
    count: one stray ``` must not swallow the rest of a chat."""

    def __init__(self, lines: Iterable[str]):
        self.blocks: list[tuple[int, int]] = []
        opened, fence = 0, ""
        for lineno, line in enumerate(lines, start=1):
            m = FENCE.match(line)
            if m is None:
                continue
            if not opened:
                if not (m["fence"][0] == "`" and "`" in m["info"]):  # ```x``` on one line is inline code
                    opened, fence = lineno, m["fence"]
            elif m["fence"][0] == fence[0] and len(m["fence"]) >= len(fence) and not m["info"].strip():
                self.blocks.append((opened, lineno))
                opened = 0
        self._starts = [first for first, _ in self.blocks]

    def __contains__(self, lineno: int) -> bool:
        i = bisect_right(self._starts, lineno) - 1
        return i >= 0 and self.blocks[i][1] >= lineno

    def prose(self, lines: Iterable[str]) -> Iterator[str]:
        """The lines, with those inside code blocks blanked."""
        for lineno, line in enumerate(lines, start=1):
            yield "" if lineno in self else line


@dataclass
class Turn:
    line: int
    author: str
    timestamp: datetime | None
    text: str


SYSTEM = object()  # a line that starts a non-message (e.g. "Messages are end-to-end encrypted")
Speech = tuple[str, datetime | None, str]  # the author, time and text of a line that starts a turn
Match = Callable[[str], "Speech | object | None"]  # a Speech, SYSTEM, or None for a continuation line


def collect(lines: Iterable[str], match: Match, code: Code | None = None) -> Iterator[Turn]:
    """Turns from lines: a matching line starts one, other lines (and all lines of code) continue it."""
    current: Turn | None = None
    continuing = False  # continuation lines of a system line are dropped with it
    for lineno, line in enumerate(lines, start=1):
        found = None if code is not None and lineno in code else match(line)
        if found is None:
            if current is not None and continuing:
                current.text += "\n" + line
            continue
        if current is not None:
            yield current
            current = None
        continuing = found is not SYSTEM
        if isinstance(found, tuple):
            author, ts, text = found
            current = Turn(lineno, author, ts, text)
    if current is not None:
        yield current


def conversation(entry: Entry, source: str, turns: Iterable[Turn], title: str | None = None) -> Iterator[Item]:
    """One conversation per file, in parts; the id is the file name plus its first three turns."""
    turns = iter(turns)
    head = [t for _, t in zip(range(3), turns, strict=False)]
    if not head:
        return
    key = [(t.author, t.text.strip(), str(t.timestamp)) for t in head]
    fields = {
        "id": stable_id(source, entry.basename, key),
        "title": title or PurePosixPath(entry.basename).stem or None,
        "source": source,
        "metadata": {"file": entry.basename},
    }
    messages = (
        message(
            f"{entry.name}:{t.line}",
            id=str(n),
            author=t.author,
            role=ROLES.get(t.author.strip().lower()),
            content=t.text.strip(),
            timestamp=t.timestamp,
        )
        for n, t in enumerate(_chain(head, turns), start=1)
        if t.text.strip()
    )
    yield from parts(entry.name, fields, messages)


def _chain(head: list[Turn], rest: Iterator[Turn]) -> Iterator[Turn]:
    yield from head
    yield from rest


def speakers(lines: Iterable[str], pattern: re.Pattern[str] = SPEAKER) -> set[str]:
    """Names that start at least two lines (or every name, if none repeats)."""
    counts: Counter[str] = Counter()
    for line in lines:
        m = pattern.match(line)
        if m and _plausible(m["name"]) and (m["name"] in counts or len(counts) < MAX_SPEAKERS):
            counts[m["name"]] += 1
    repeated = {n for n, c in counts.items() if c >= 2}
    return repeated or set(counts)


def _plausible(name: str) -> bool:
    return len(name.split()) <= 4 and "http" not in name.lower()


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def sniff(head: list[str]) -> bool:
    names = [m["name"] for m in map(SPEAKER.match, Code(head).prose(head)) if m and _plausible(m["name"])]
    nonblank = [line for line in head if line.strip()]
    repeated = any(c >= 2 for c in Counter(names).values())
    return repeated and len(names) >= 2 and len(names) * 3 >= len(nonblank)


def read(entry: Entry) -> Iterator[Item]:
    code = Code(entry.text_lines(counted=False))
    known = speakers(code.prose(entry.text_lines(counted=False)))

    def match(line: str) -> Speech | None:
        m = SPEAKER.match(line)
        if m is None or m["name"] not in known:
            return None
        return m["name"].strip(), _time(m["ts"]), m["text"]

    yield from conversation(entry, NAME, collect(entry.text_lines(), match, code))
