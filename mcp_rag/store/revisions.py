"""The schema revisions this release knows, read from its migration files without Alembic.

What a running server asks on every readiness check (is the database at the head
revision, or at one this release does not know?) needs only the `revision` and
`down_revision` lines of `migrations/versions/*.py`, which Alembic's template
writes and `alembic revision` keeps. Alembic itself (~11 MiB of imports) is
loaded only to migrate (`db.migrate`), in a child process when `serve` starts.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

VERSIONS = Path(__file__).parent / "migrations" / "versions"


@cache
def known() -> dict[str, tuple[str, ...]]:
    """Every revision of this release, with the revisions it follows (none for the first)."""
    found: dict[str, tuple[str, ...]] = {}
    for path in sorted(VERSIONS.glob("*.py")):
        values: dict[str, object] = {}
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.expr):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                        values[target.id] = ast.literal_eval(node.value)
        revision, down = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str):
            raise RuntimeError(f"{path.name}: no revision")
        found[revision] = (down,) if isinstance(down, str) else tuple(down or ())  # type: ignore[arg-type]
    return found


def head() -> str:
    """The revision no other revision follows: what `migrate` upgrades to."""
    revisions = known()
    followed = {down for downs in revisions.values() for down in downs}
    heads = [r for r in revisions if r not in followed]
    if len(heads) != 1:
        raise RuntimeError(f"the migrations in {VERSIONS} have {len(heads)} heads: {heads}")
    return heads[0]
