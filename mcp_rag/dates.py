"""Times as people say them: "yesterday", "last week", "in March 2024", "since Monday", "2 days ago".

dateparser reads the words (and which period they name: a day, a week, a
month, a year, or an exact time) against a stated now and time zone; this
module only turns that period into the bound a filter needs. A start bound
(`since`) takes the period's first instant, an end bound (`until`) its last,
so `since="yesterday", until="yesterday"` is all of yesterday. ISO 8601
date-times are taken as they are, as before.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

Bound = Literal["start", "end"]

# Words that say which side of a range a time is on; the side comes from the field, not from these.
_LEADING = re.compile(r"^\s*(since|from|after|until|till|up to|before|in|on|during)\s+", re.IGNORECASE)
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
MAX_CHARS = 100


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def zone(name: str | None) -> ZoneInfo:
    """An IANA time zone by name (Europe/Paris); None is UTC. Other names raise ValueError:
    only names in the zone database are looked up ("America" is a folder there, not a zone)."""
    if name and name not in _zone_names():
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as UTC or Europe/Paris")
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as UTC or Europe/Paris") from None


def resolve(value: str, bound: Bound, now: datetime, tz: ZoneInfo) -> datetime:
    """`value` as an aware datetime in UTC: the start or end of the period it names, seen from `now` in `tz`."""
    text = value.strip()
    if len(text) > MAX_CHARS:
        raise ValueError(f"a time is at most {MAX_CHARS} characters")
    if _ISO_TIME.match(text):
        try:
            exact = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            try:
                return (exact if exact.tzinfo else exact.replace(tzinfo=tz)).astimezone(UTC)
            except OverflowError:
                raise ValueError("date-time out of range: in UTC it falls outside the years 1 to 9999") from None
    from dateparser.date import DateDataParser  # ~0.3 s to import: only when a time is given in words

    local_now = now.astimezone(tz).replace(tzinfo=None)
    parser = DateDataParser(
        languages=["en"],
        settings={
            "RELATIVE_BASE": local_now,
            "TIMEZONE": tz.key,
            "RETURN_AS_TIMEZONE_AWARE": False,
            "PREFER_DATES_FROM": "past",
            "PREFER_DAY_OF_MONTH": "first",
            "RETURN_TIME_AS_PERIOD": True,
        },
    )
    try:
        data = parser.get_date_data(_LEADING.sub("", text))
    except (ValueError, OverflowError, ArithmeticError):  # e.g. "99999 years ago" past year 1
        data = None
    if data is None or data.date_obj is None:
        raise ValueError(
            f"could not read {value!r} as a time; try an ISO 8601 date-time or words such as "
            "'yesterday', 'last week', 'in March 2024', 'since Monday', '2 days ago'"
        )
    when = data.date_obj
    start, end = _period(when, data.period or "time")
    chosen = start if bound == "start" else end
    try:
        return chosen.replace(tzinfo=tz).astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} falls outside the years 1 to 9999") from None


def _period(when: datetime, period: str) -> tuple[datetime, datetime]:
    """The first and last instant (local, naive) of the `period` that holds `when`."""
    if period == "time":
        return when, when
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        following = start + timedelta(days=7)
    elif period == "month":
        start = day.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
    elif period == "year":
        start = day.replace(month=1, day=1)
        following = start.replace(year=start.year + 1)
    else:  # a day
        start, following = day, day + timedelta(days=1)
    return start, following - timedelta(microseconds=1)
