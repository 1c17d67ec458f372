"""The one way a pydantic validation failure is put into words, for every door and the importers:
`messages.0.content: String should have at most 200000 characters; id: ...`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import ValidationError


def where(loc: Sequence[int | str], skip: Iterable[str] = ()) -> str:
    """The dotted path of a failing field (`messages.0.content`), leaving out the parts in `skip`."""
    skipped = set(skip)
    return ".".join(str(p) for p in loc if p not in skipped)


def describe(exc: ValidationError, limit: int) -> str:
    """The first `limit` errors as `path: message`, joined by '; ' (a top-level error is its message)."""
    parts = []
    for e in exc.errors()[:limit]:
        path = where(e["loc"])
        parts.append(f"{path}: {e['msg']}" if path else e["msg"])
    return "; ".join(parts)
