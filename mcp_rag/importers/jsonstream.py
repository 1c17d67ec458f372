"""JSON records, streamed: the one reader of JSON, JSON Lines and top-level arrays.

A top-level array is read item by item with ijson, so a 1 GB
`conversations.json` never sits in memory whole; JSON Lines are read line by
line. Each record comes with its location (`file[3]`, `file:12`, or `file`).
A syntax error inside an array ends that file (nothing after it can be
trusted); in JSON Lines it costs only its line.

Nesting is capped at MAX_DEPTH, checked on the bytes before any parser sees
them: json.loads would recurse until RecursionError, and ijson keeps a path
string per open level, so 200,000 `[` would take it gigabytes of memory.
Real exports nest a dozen levels.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import ijson

from mcp_rag.errors import Invalid
from mcp_rag.importers.base import Entry

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12

Record = tuple[str, Any]  # (location, value or an Invalid saying why it could not be read)
MAX_DEPTH = 256
TOO_DEEP = "nested too deeply"


class TooDeep(ValueError):
    pass


_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_STRING = re.compile(rb'"[^"]*"')
_PAIR = re.compile(rb"[\[{][\]}]")


class Nesting:
    """How deep the JSON fed so far is open, from its bytes, at C speed: escapes and strings are cut
    out with regular expressions, then innermost bracket pairs are removed pass by pass, so
    only the unmatched brackets of a chunk are counted one by one. Raises TooDeep past MAX_DEPTH."""

    def __init__(self, limit: int = MAX_DEPTH):
        self.limit, self.depth = limit, 0
        self.in_string, self.carry = False, b""  # inside a string at the chunk's end; a split escape

    def feed(self, data: bytes) -> None:
        data = _ESCAPE.sub(b"", self.carry + data)
        self.carry = b"\\" if data.endswith(b"\\") else b""
        marks = data.translate(None, _NOT_STRUCTURE)
        if self.in_string:
            end = marks.find(b'"')
            if end < 0:
                return
            marks, self.in_string = marks[end + 1 :], False
        marks = _STRING.sub(b"", marks)
        start = marks.find(b'"')
        if start >= 0:
            marks, self.in_string = marks[:start], True
        passes = 0
        while True:
            marks, removed = _PAIR.subn(b"", marks)
            if not removed:
                break
            passes += 1
            if passes > self.limit:
                raise TooDeep(TOO_DEEP)
        opens = len(marks.lstrip(b"]}"))
        closes = len(marks) - opens
        if max(self.depth, self.depth - closes + opens) + passes > self.limit:
            raise TooDeep(TOO_DEEP)
        self.depth = max(0, self.depth - closes + opens)


class _Guarded(io.RawIOBase):
    def __init__(self, raw: IO[bytes]):
        self.raw, self.nesting = raw, Nesting()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self.raw.read(len(view))
        self.nesting.feed(data)
        view[: len(data)] = data
        return len(data)


def first_char(entry: Entry) -> str:
    """The file's first character past a byte-order mark and blanks ("[" or "{" for JSON)."""
    head = entry.head().decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    return head[:1]


def _is_json_lines(entry: Entry) -> bool:
    """A `.jsonl` file, or several JSON values one per line (a lone pretty-printed object is not)."""
    if entry.basename.lower().endswith((".jsonl", ".ndjson")):
        return True
    lines = (line for line in entry.head().decode("utf-8", "replace").lstrip("\ufeff").splitlines() if line.strip())
    first = next(lines, "")
    try:
        Nesting().feed(first.encode("utf-8", "replace"))
        json.loads(first)
    except (ValueError, RecursionError):
        return False
    return next(lines, None) is not None


def records(entry: Entry) -> Iterator[Record]:
    """Every top-level record: the items of an array, the lines of JSON Lines, or the one object."""
    if first_char(entry) == "[":
        yield from _array_items(entry)
    elif _is_json_lines(entry):
        yield from _lines(entry)
    else:
        yield from _whole(entry)


def first_record(entry: Entry) -> tuple[str, Any]:
    """("array" | "lines" | "object", the first record) without reading the rest; the record is an
    Invalid saying why when it cannot be read, None when there is none."""
    if first_char(entry) == "[":
        for _, value in _array_items(entry, counted=False):
            return "array", value
        return "array", None
    shape = "lines" if _is_json_lines(entry) else "object"
    for _, value in _lines(entry, counted=False) if shape == "lines" else _whole(entry, counted=False):
        return shape, value
    return shape, None


def _array_items(entry: Entry, counted: bool = True) -> Iterator[Record]:
    index = 0  # the item being read: where a syntax error is reported
    try:
        with entry.open(counted) as f:
            for item in ijson.items(io.BufferedReader(_Guarded(f)), "item", use_float=True):
                yield f"{entry.name}[{index}]", item
                index += 1
    except (ijson.JSONError, ValueError) as exc:
        yield f"{entry.name}[{index}]", Invalid(f"not valid JSON ({_short(exc)}); the rest of the file was skipped")


def _lines(entry: Entry, counted: bool = True) -> Iterator[Record]:
    for lineno, line in enumerate(entry.text_lines(counted), start=1):
        if not line.strip():
            continue
        try:
            Nesting().feed(line.encode("utf-8", "replace"))
            yield f"{entry.name}:{lineno}", json.loads(line)
        except (ValueError, RecursionError) as exc:
            yield f"{entry.name}:{lineno}", Invalid(f"not valid JSON ({_short(exc)})")


def _whole(entry: Entry, counted: bool = True) -> Iterator[Record]:
    with entry.open(counted) as f:
        raw = f.read()
    try:
        Nesting().feed(raw)
        yield entry.name, json.loads(raw.decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        yield f"{entry.name}:{exc.lineno}", Invalid(f"not valid JSON ({exc.msg})")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        yield entry.name, Invalid(f"not valid JSON ({_short(exc)})")


def _short(exc: Exception) -> str:
    if isinstance(exc, TooDeep | RecursionError):
        return TOO_DEEP
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return text[:200]
