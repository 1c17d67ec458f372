"""Question types and the short answer spans that fit them, by the rules of English.

A question's first words say what kind of answer it wants: "when" a date or a
time, "where" a place, "who" a person, "how many" a count, "how long" a
duration, "did/is/can ..." a yes or a no. A sentence that holds such a span is
more likely to carry the answer than one that only repeats the question's
words, and the span alone is the short answer shown before the quote.

Dates are written out ("6 January 2024"); relative ones ("yesterday", "two
years ago", "for about 10 years") are resolved against the time of the turn
that says them. Places and people are capitalised phrases that are not the
speakers' own names, a month or a day. Nothing here knows any conversation.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

MONTHS = "january february march april may june july august september october november december".split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "a": 1, "an": 1, "a couple of": 2,
    "a few": 3, "several": 3,
}  # fmt: skip
_NUMBER = r"(?:\d+(?:[.,]\d+)?|" + "|".join(sorted((re.escape(w) for w in _NUMBER_WORDS), key=len, reverse=True)) + ")"
_UNIT = r"(?:seconds?|minutes?|mins?|hours?|hrs?|days?|nights?|weeks?|months?|years?|yrs?|decades?)"

_TYPES = (
    ("when", r"^(when|what (date|day|time|month|year)|which (date|day|month|year)|(at|on|in) what (time|date|day))\b"),
    ("duration", r"^(how long|for how long|how much time)\b"),
    ("count", r"^(how (many|much|often)|what (number|amount))\b"),
    ("where", r"^(where|(in|to|at|from) (what|which) (city|country|place|town|state|restaurant|shop|store|area))\b"
     r"|^(what|which) (city|country|place|town|state|destination|restaurant|shop|store|area)"),
    ("who", r"^(who|whom|whose|with whom)\b"),
    ("name", r"^(what|which) (\w+ )?(book|movie|film|show|series|game|song|band|album|brand|team|app|name|title|"
     r"restaurant|cafe|company|school|university|club|dish|recipe|breed)s?\b|^which \w+"),
    ("yesno", r"^(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|shall|may|might)\b"),
)  # fmt: skip
_TYPE_RES = [(kind, re.compile(pattern, re.I)) for kind, pattern in _TYPES]

_ABSOLUTE_DATE = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\.?(?:,?\s+(\d{{4}}))?\b"
    rf"|\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?"
    rf"|\b(\d{{1,2}})[./](\d{{1,2}})[./](\d{{2,4}})\b"
    rf"|\b(?:in\s+)?({_MONTH})\s+(\d{{4}})\b",
    re.I,
)
_YEAR = re.compile(r"\b(?:in |since |back in )?((?:19|20)\d{2})\b", re.I)
_AGO = re.compile(rf"\b({_NUMBER})\s+({_UNIT})\s+ago\b", re.I)
_FOR_SINCE = re.compile(rf"\bfor\s+(?:about\s+|almost\s+|over\s+|nearly\s+|around\s+)?({_NUMBER})\s+(years?)\b", re.I)
_RELATIVE = re.compile(
    r"\b(yesterday|today|tonight|tomorrow|this (?:morning|afternoon|evening|week|weekend)"
    r"|last (?:night|week|weekend|month|year|" + "|".join(WEEKDAYS) + r")"
    r"|next (?:week|weekend|month|year|" + "|".join(WEEKDAYS) + r")"
    r"|(?:on )?(?:" + "|".join(WEEKDAYS) + r"))\b",
    re.I,
)
_COUNTED = r"(?:\d+|" + "|".join(w for w in _NUMBER_WORDS if " " not in w and w not in ("a", "an")) + ")"
_COUNT = re.compile(rf"\b(once|twice|thrice|{_COUNTED}\s+(?:times?|[a-z]+))\b", re.I)
_DURATION = re.compile(
    rf"\b((?:about |almost |over |nearly |around |only |just )?{_NUMBER}(?:\s+and a half)?\s+{_UNIT}"
    rf"|(?:all|the whole|a whole) (?:day|night|week|weekend|month|year))\b",
    re.I,
)
_CAPITALISED = re.compile(r"\b([A-Z][\w'’&-]*(?:\s+(?:of|de|la|and|the|del|du)?\s*[A-Z][\w'’&-]*)*)")
_RELATION = re.compile(
    r"\b((?:my|his|her|their|our) (?:best |close |old |new )?(?:mom|mother|mum|dad|father|parents?|sister|brother|"
    r"son|daughter|kids?|children|wife|husband|girlfriend|boyfriend|partner|fiancée?|friends?|cousins?|aunt|uncle|"
    r"grand(?:ma|pa|mother|father|parents)|colleagues?|coworkers?|boss|roommates?|neighbou?rs?|family|team))\b",
    re.I,
)
_NEGATION = re.compile(r"\b(no|not|never|nope|nothing|none|neither|nor)\b|n[’']t\b", re.I)
MAX_SPANS = 3
_COMMON_STARTS = set(
    """i i'm i've i'd i'll i’m i’ve i’d i’ll im it it's its the a an and but or so oh ok okay yes no yeah well
    that this there what when where who why how my your our his her their we you he she they haha lol wow hey hi
    hello thanks""".split()
)


def question_type(question: str) -> str:
    """when, duration, count, where, who, name (of a book, film, place to eat ...), yesno or other."""
    # A follow-up ("And when is it live?") asks what its first words after the link word ask.
    text = re.sub(r"^(?:(?:and|so|but|also|then|ok|okay|well)\b\W*)+", "", question.strip().lower())
    for kind, pattern in _TYPE_RES:
        if pattern.search(text):
            return kind
    return "other"


_SEVERAL = re.compile(r"^(what|which)\s+(?:\w+\s+)?(\w+(?<!s)s)\b(?<!\bis)(?<!\bwas)(?<!\bdoes)(?<!\bhas)", re.I)


def asks_for_several(question: str) -> bool:
    """Whether the question asks for a list: a plural noun after what/which ("what movies", "which cities")."""
    return bool(_SEVERAL.search(question.strip()))


def written(day: datetime) -> str:
    return f"{day.day} {day:%B %Y}"


def _number(word: str) -> float | None:
    word = word.lower().strip()
    if word in _NUMBER_WORDS:
        return _NUMBER_WORDS[word]
    try:
        return float(word.replace(",", "."))
    except ValueError:
        return None


def date_span(text: str, ts: datetime | None) -> str | None:
    """A date the text states or implies, written out; None when it holds none."""
    if m := _ABSOLUTE_DATE.search(text):
        return m.group(0).strip()
    if m := _AGO.search(text):
        n, unit = _number(m.group(1)), m.group(2).lower()
        if ts is not None and n is not None:
            days = {"d": 1, "n": 1, "w": 7, "m": 30, "y": 365}.get(unit[0], 0) * n
            if unit.startswith(("min", "sec", "hour", "hr")):
                days = 0
            if unit.startswith(("y", "dec")):
                return str(ts.year - int(n * (10 if unit.startswith("dec") else 1)))
            return written(ts - timedelta(days=days))
        return m.group(0)
    if (m := _FOR_SINCE.search(text)) and ts is not None and (n := _number(m.group(1))) is not None:
        return f"{ts.year - int(n)}"  # "skiing for 10 years", said in 2023: since 2013
    if m := _YEAR.search(text):
        return m.group(1)
    if (m := _RELATIVE.search(text)) and ts is not None:
        said = m.group(1).lower()
        if said == "yesterday" or said == "last night":
            return written(ts - timedelta(days=1))
        if said == "tomorrow":
            return written(ts + timedelta(days=1))
        if said.startswith(("today", "tonight", "this")):
            return written(ts)
        if said.startswith(("last", "next")):
            return f"the {said.split()[1]} {'before' if said.startswith('last') else 'after'} {written(ts)}"
        # A bare weekday may be the one before or after the turn: name it and when it was said.
        return f"{said.removeprefix('on ').capitalize()} (said on {written(ts)})"
    return None


def proper_spans(text: str, exclude: set[str], proper: set[str] | None = None) -> list[str]:
    """Capitalised phrases that are not a sentence's first word (unless `proper` knows it as a
    name), a word in `exclude` (speakers, the question's own words), a month or a day."""
    out = []
    starts = {0} | {m.end() for m in re.finditer(r"[.!?…:]\s+|[\"“(]", text)}
    for m in _CAPITALISED.finditer(text):
        phrase = m.group(1).strip(" '’-")
        words = phrase.split()
        if m.start() in starts and words and words[0].lower() not in (proper or set()):
            words = words[1:]
        while words and (words[0].lower() in _COMMON_STARTS or words[0].lower() in exclude or _is_calendar(words[0])):
            words = words[1:]
        while words and (words[-1].lower() in exclude or _is_calendar(words[-1])):
            words = words[:-1]
        # A phrase the question already holds part of ("New Years" for "... the New Year?") is not an answer.
        if words and not any(w.lower().strip("'’s") in exclude for w in words):
            out.append(" ".join(words))
    return out[:MAX_SPANS]


def _is_calendar(word: str) -> bool:
    w = word.lower().rstrip(".")
    return w in MONTHS or w in WEEKDAYS or any(m.startswith(w) and len(w) >= 3 for m in MONTHS)


def proper_words(texts: list[str]) -> set[str]:
    """Words capitalised somewhere other than a sentence's start: names as the chat writes them."""
    found: set[str] = set()
    for text in texts:
        for m in re.finditer(r"(?<=[\w,;] )([A-Z][\w'’&-]*)", text):
            found.add(m.group(1).lower())
    return found


_QUOTED = re.compile(r"[\"“]([^\"“”]{2,80})[\"”]")


def span(kind: str, text: str, ts: datetime | None, exclude: set[str], proper: set[str] | None = None) -> str | None:
    """The short answer of type `kind` that `text` holds, or None. `exclude`: words that are
    never the answer (the speakers' names, the question's own words); `proper`: see proper_words."""
    if kind == "when":
        return date_span(text, ts)
    if kind == "duration":
        m = _DURATION.search(text)
        return m.group(1) if m else None
    if kind == "count":
        m = _COUNT.search(text) or _DURATION.search(text)
        return m.group(1) if m else None
    if kind == "name" and (m := _QUOTED.search(text)):
        return m.group(1)
    if kind in ("where", "who", "name"):
        found = proper_spans(text, exclude, proper)
        if kind == "who" and not found and (m := _RELATION.search(text)):
            return m.group(1)
        return ", ".join(dict.fromkeys(found)) if found else None
    if kind == "yesno":
        return "No" if _NEGATION.search(text) else "Yes"
    return None


# "full-time or part-time", "a humanities or technical background": the words either side of "or".
_ALTERNATIVES = re.compile(r"\b([\w’'-]+)\s+or\s+([\w’'-]+)", re.I)
# A claim with no exceptions ("always avoids", "relies solely on") that the answer does not repeat is rarely true.
ABSOLUTE = re.compile(
    r"\b(always|completely|entirely|totally|solely|exclusively|alone|every|everything|all the time)\b", re.I
)


def alternatives(question: str) -> list[str]:
    """The choices a yes/no-shaped question offers ("Does she work full-time or part-time?"), or []."""
    if question_type(question) != "yesno" or not (m := _ALTERNATIVES.search(question)):
        return []
    a, b = m.group(1).lower(), m.group(2).lower()
    return [] if a == b or not a.isascii() or a in ("either", "whether") else [a, b]


def negated(text: str) -> bool:
    return bool(_NEGATION.search(text))
