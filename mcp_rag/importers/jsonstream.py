"""JSON records, streamed: the one reader of JSON, JSON Lines and top-level arrays.

A top-level array is read item by item with ijson, so a 1 GB
`conversations.json` never sits in memory whole; JSON Lines are read line by
line. Each record comes with its location (`file[3]`, `file:12`, or `file`).
A syntax error inside an array ends that file (nothing after it can be
trusted); in JSON Lines it costs only its line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import ijson

from mcp_rag.errors import Invalid
from mcp_rag.importers.base import Entry

Record = tuple[str, Any]  # (location, value or an Invalid saying why it could not be read)


def _first_char(entry: Entry) -> str:
    head = entry.head().decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    return head[:1]


def _is_json_lines(entry: Entry) -> bool:
    """A `.jsonl` file, or several JSON values one per line (a lone pretty-printed object is not)."""
    if entry.basename.lower().endswith((".jsonl", ".ndjson")):
        return True
    lines = (line for line in entry.head().decode("utf-8", "replace").lstrip("\ufeff").splitlines() if line.strip())
    first = next(lines, "")
    try:
        json.loads(first)
    except ValueError:
        return False
    return next(lines, None) is not None


def records(entry: Entry) -> Iterator[Record]:
    """Every top-level record: the items of an array, the lines of JSON Lines, or the one object."""
    if _first_char(entry) == "[":
        yield from _array_items(entry)
    elif _is_json_lines(entry):
        yield from _lines(entry)
    else:
        yield from _whole(entry)


def first_record(entry: Entry) -> tuple[str, Any]:
    """("array" | "lines" | "object", the first record) without reading the rest; ("", None) if unreadable."""
    if _first_char(entry) == "[":
        for _, value in _array_items(entry, counted=False):
            return "array", None if isinstance(value, Exception) else value
        return "array", None
    shape = "lines" if _is_json_lines(entry) else "object"
    for _, value in _lines(entry, counted=False) if shape == "lines" else _whole(entry, counted=False):
        return shape, None if isinstance(value, Exception) else value
    return shape, None


def _array_items(entry: Entry, counted: bool = True) -> Iterator[Record]:
    index = 0  # the item being read: where a syntax error is reported
    try:
        with entry.open(counted) as f:
            for item in ijson.items(f, "item", use_float=True):
                yield f"{entry.name}[{index}]", item
                index += 1
    except (ijson.JSONError, ValueError) as exc:
        yield f"{entry.name}[{index}]", Invalid(f"not valid JSON ({_short(exc)}); the rest of the file was skipped")


def _lines(entry: Entry, counted: bool = True) -> Iterator[Record]:
    for lineno, line in enumerate(entry.text_lines(counted), start=1):
        if not line.strip():
            continue
        try:
            yield f"{entry.name}:{lineno}", json.loads(line)
        except ValueError as exc:
            yield f"{entry.name}:{lineno}", Invalid(f"not valid JSON ({_short(exc)})")


def _whole(entry: Entry, counted: bool = True) -> Iterator[Record]:
    with entry.open(counted) as f:
        raw = f.read()
    try:
        yield entry.name, json.loads(raw.decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        yield f"{entry.name}:{exc.lineno}", Invalid(f"not valid JSON ({exc.msg})")
    except (UnicodeDecodeError, ValueError) as exc:
        yield entry.name, Invalid(f"not valid JSON ({_short(exc)})")


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return text[:200]
