"""WhatsApp chat exports (`_chat.txt`, "WhatsApp Chat with ….txt").

Two line shapes, by platform:
- iOS:      `[31/12/2023, 22:45:12] Kate: text`
- Android:  `31/12/2023, 22:45 - Kate: text` (also `12/31/23, 10:45 PM - Kate: text`)

Dates follow the phone's locale, so whether 03/04 is March or April is decided
per file: a first field above 12 means day-first, a second field above 12
means month-first, otherwise month-first for `/` and day-first for `.`. A
bracketed line with neither a comma after the date nor seconds
(`[2024-03-04 10:00] Kate: ...`) is not WhatsApp's: detection calls such a
file a transcript. Lines
without `Name:` ("Messages and calls are end-to-end encrypted") are system
notices and are skipped; times are the phone's local time, stored as given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from mcp_rag.importers.base import Entry, Item
from mcp_rag.importers.transcript import SYSTEM, Speech, collect, conversation

NAME = "whatsapp"
_DATE = r"(?P<date>\d{1,4}[./-]\d{1,2}[./-]\d{1,4})"
_TIME = r"(?P<time>\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:\s?(?P<ampm>[AaPp])\.?\s?[Mm]\.?)?)"
BRACKET = re.compile(rf"^\[{_DATE}(?P<comma>,)?\s{_TIME}\]\s(?P<rest>.*)$")
DASH = re.compile(rf"^{_DATE},?\s{_TIME}\s[-–]\s(?P<rest>.*)$")
_INVISIBLE = str.maketrans({"\u200e": None, "\u200f": None, "\u202f": " ", "\u00a0": " "})


def _match(line: str) -> re.Match[str] | None:
    line = line.translate(_INVISIBLE)
    return BRACKET.match(line) or DASH.match(line)


def _marked(m: re.Match[str]) -> bool:
    """WhatsApp's own shape: Android's ` - `, or iOS's comma after the date or seconds in the time.
    `[2024-03-04 10:00] Kate: ...` has neither: a timestamped transcript, not WhatsApp."""
    return m.re is DASH or bool(m["comma"]) or m["time"].count(":") + m["time"].count(".") >= 2


def sniff(head: list[str]) -> bool:
    hits = sum(1 for line in head if (m := _match(line)) and _marked(m))
    return hits >= 2 or (hits == 1 and len([x for x in head if x.strip()]) <= 2)


def day_first(lines: Iterable[str]) -> bool:
    separator = "/"
    for line in lines:
        m = _match(line)
        if not m:
            continue
        first, second, _ = re.split(r"[./-]", m["date"])
        separator = m["date"][len(first)]
        if len(first) == 4:
            return False
        if int(first) > 12:
            return True
        if int(second) > 12:
            return False
    return separator == "."


def parse_time(date: str, time: str, ampm: str | None, dayfirst: bool) -> datetime | None:
    fields = re.split(r"[./-]", date)
    a, b, c = (int(x) for x in fields)
    if len(fields[0]) == 4:
        year, month, day = a, b, c
    else:
        day, month, year = (a, b, c) if dayfirst else (b, a, c)
    if year < 100:
        year += 2000
    clock = [int(x) for x in re.findall(r"\d+", time)]
    hour, minute, second = (clock + [0])[:3]
    if ampm:
        hour = hour % 12 + (12 if ampm.lower() == "p" else 0)
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def read(entry: Entry) -> Iterator[Item]:
    dayfirst = day_first(entry.text_lines(counted=False))

    def match(line: str) -> Speech | object | None:
        m = _match(line)
        if m is None:
            return None
        author, sep, text = m["rest"].partition(": ")
        if not sep or not author.strip():
            return SYSTEM
        if ": \u200e" in line and "<attached:" not in line:
            return SYSTEM  # iOS marks notices ("Messages and calls are end-to-end encrypted") with U+200E
        return author.strip(), parse_time(m["date"], m["time"], m["ampm"], dayfirst), text.replace("\u200e", "")

    yield from conversation(entry, NAME, collect(entry.text_lines(), match))
