"""Who a person means by a name: "kate" is Slack's "Kate Moreno", "elise" the handle "elise", "zoe" "Zoë".

Names are compared by their parts, each folded (case and accents dropped), so a
part matches only a whole part: "kate" matches "Kate Moreno" but "kat" does
not, and "Moreno" matches every Moreno. When nothing matches, the closest names
are offered, so a filter that finds nothing says who is there instead.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

_PART = re.compile(r"[^\W_]+")  # letters and digits; dots, spaces, @, _ and - separate parts


def fold(text: str) -> str:
    """Lower case without accents: 'Zoë' → 'zoe', 'ÉLISE' → 'elise'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def parts(name: str) -> list[str]:
    return _PART.findall(fold(name))


def matching(wanted: str, names: Iterable[str]) -> list[str]:
    """The stored `names` that `wanted` means: each of its parts is a whole part of the name, in any order."""
    want = parts(wanted)
    if not want:
        return []
    return sorted(n for n in set(names) if set(want) <= set(parts(n)))


def closest(wanted: str, names: Iterable[str], n: int = 5) -> list[str]:
    """Up to `n` of `names` nearest to `wanted` by spelling (for a hint when nothing matched)."""
    by_fold: dict[str, str] = {}
    for name in names:
        by_fold.setdefault(fold(name), name)
    near = difflib.get_close_matches(fold(wanted), list(by_fold), n=n, cutoff=0.4)
    if len(near) < n:  # a part that is close to a part of a name ("morenoo" → "Kate Moreno")
        want = parts(wanted)
        for key in by_fold:
            if key not in near and any(difflib.get_close_matches(w, parts(key), n=1, cutoff=0.7) for w in want):
                near.append(key)
    return [by_fold[k] for k in near[:n]]


def hint(what: str, wanted: str, names: list[str]) -> str:
    """The message for a filter that matched nothing: the closest names, else some of those there are."""
    if not names:
        return f"no {what} matches {wanted!r}: nothing with a {what} is stored"
    near = closest(wanted, names)
    shown = near or sorted(names)[:10]
    label = "closest" if near else f"some of the {len(names)}"
    return f"no {what} matches {wanted!r}; {label}: {', '.join(shown)}"
