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

Strings are bounded the same way: one longer than MAX_STRING_BYTES is cut out
of the bytes before the parser sees it (LongStrings), so no huge string is
ever built and parsing stays linear in the file's size; its record is refused
by validation with the reason. A JSON Lines line, or a file that is a single
object, is read whole only up to MAX_DOCUMENT_BYTES.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import IO, Any

import ijson

from mcp_rag.errors import Invalid
from mcp_rag.importers.base import Entry
from mcp_rag.models import CUT_TEXT, MAX_STRING_BYTES

Record = tuple[str, Any]  # (location, value or an Invalid saying why it could not be read)
MAX_DEPTH = 256
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024  # a JSON Lines line, or a file that is one object: each is read whole
READ_BYTES = 1024 * 1024  # what the parser reads at once: yajl rescans a token it holds on every read
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


_CUT = json.dumps(CUT_TEXT).encode()[:-1]  # the opening quote and the marker; the closing quote comes later


class LongStrings:
    """Cuts JSON strings longer than `limit` bytes out of a byte stream before any parser sees them,
    leaving CUT_TEXT in their place, which validation refuses with the reason.

    A parser must hold a whole string before it can hand it over, and yajl (ijson's C backend)
    rescans the part it holds on every read, so one long string costs time quadratic in its length
    and memory linear in it. Here an open string is held back (at most `limit` bytes) until it
    closes; past the limit its bytes are dropped up to its closing quote. Quotes are found at C
    speed: escapes are overwritten with same-length filler, then quotes are counted."""

    def __init__(self, limit: int = MAX_STRING_BYTES):
        self.limit = limit
        self.held = b""  # an open string from its opening quote, not yet passed on
        self.skipping = False  # inside a cut string, dropping bytes up to its closing quote
        self.escaped = False  # while skipping: the last dropped byte began an escape

    def feed(self, data: bytes) -> bytes:
        out = b""
        if self.skipping:
            end = self._closing_quote(data)
            if end < 0:
                return b""
            self.skipping, out, data = False, b'"', data[end + 1 :]
        data, self.held = self.held + data, b""
        neutral = _ESCAPE.sub(b"\x01\x01", data)
        if neutral.count(b'"') % 2 == 0:
            return out + data
        start = neutral.rfind(b'"')
        if len(data) - start <= self.limit:
            self.held = data[start:]
            return out + data[:start]
        self.skipping, self.escaped = True, neutral.endswith(b"\\")
        return out + data[:start] + _CUT

    def close(self) -> bytes:
        """What is still held at the end of the input (an unterminated string: the parser says so)."""
        rest, self.held = self.held, b""
        return rest

    def _closing_quote(self, data: bytes) -> int:
        lead = b"\\" if self.escaped else b""
        neutral = _ESCAPE.sub(b"\x01\x01", lead + data)
        end = neutral.find(b'"')
        if end < 0:
            self.escaped = neutral.endswith(b"\\")
            return -1
        return end - len(lead)


class _Guarded(io.RawIOBase):
    """The bytes of a JSON file with over-long strings cut and nesting checked, as they are read."""

    def __init__(self, raw: IO[bytes]):
        self.raw, self.nesting, self.strings = raw, Nesting(), LongStrings()
        self.pending, self.done = b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending and not self.done:
            data = self.raw.read(len(buffer))
            self.done = not data
            self.pending = self.strings.close() if self.done else self.strings.feed(data)
            self.nesting.feed(self.pending)
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


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
            guarded = io.BufferedReader(_Guarded(f), READ_BYTES)
            for item in ijson.items(guarded, "item", use_float=True, buf_size=READ_BYTES):
                yield f"{entry.name}[{index}]", item
                index += 1
    except (ijson.JSONError, ValueError) as exc:
        yield f"{entry.name}[{index}]", Invalid(f"not valid JSON ({_short(exc)}); the rest of the file was skipped")


def _lines(entry: Entry, counted: bool = True) -> Iterator[Record]:
    with entry.open(counted) as f:
        for lineno, line in enumerate(_bounded_lines(f), start=1):
            if line is None:
                yield f"{entry.name}:{lineno}", Invalid(f"line longer than {MAX_DOCUMENT_BYTES:,} bytes; skipped")
                continue
            if not line.strip():
                continue
            try:
                cut = LongStrings()  # fed as the parser would read: a string whole in one feed is not cut
                line = b"".join(cut.feed(line[i : i + READ_BYTES]) for i in range(0, len(line), READ_BYTES))
                line += cut.close()
                Nesting().feed(line)
                yield f"{entry.name}:{lineno}", json.loads(line.decode("utf-8", "replace"))
            except (ValueError, RecursionError) as exc:
                yield f"{entry.name}:{lineno}", Invalid(f"not valid JSON ({_short(exc)})")


def _bounded_lines(f: IO[bytes]) -> Iterator[bytes | None]:
    """Each line's bytes, or None for a line longer than MAX_DOCUMENT_BYTES (read past, never held)."""
    while line := f.readline(MAX_DOCUMENT_BYTES + 1):
        if len(line) > MAX_DOCUMENT_BYTES and not line.endswith(b"\n"):
            while (rest := f.readline(1024 * 1024)) and not rest.endswith(b"\n"):
                pass
            yield None
        else:
            yield line


def _whole(entry: Entry, counted: bool = True) -> Iterator[Record]:
    if entry.size > MAX_DOCUMENT_BYTES:
        yield (
            entry.name,
            Invalid(
                f"one JSON object of {entry.size:,} bytes, over the {MAX_DOCUMENT_BYTES:,} read whole; "
                "export it as a JSON array or JSON Lines, which are read record by record"
            ),
        )
        return
    try:
        with entry.open(counted) as f:
            raw = _Guarded(f).readall()
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
