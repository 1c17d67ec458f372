"""Which paths a confined caller (the MCP tool) may import: only below MCP_RAG_IMPORT_ROOTS.

An assistant choosing a path is not the user typing one: without configured
roots the tool refuses everything, and a path is judged by where it really
leads (symlinks resolved, `..` collapsed), so a link inside a root cannot
reach /etc. Files met while walking a folder are judged the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from mcp_rag.errors import Forbidden, NotFound


def confine(path: str, roots: Sequence[Path]) -> tuple[Path, Callable[[Path], bool]]:
    """The real path to import, and a test for files found below it; Forbidden outside the roots."""
    if not roots:
        raise Forbidden("importing by path is disabled: set MCP_RAG_IMPORT_ROOTS to the folders it may read")
    real_roots = [r.expanduser().resolve() for r in roots]
    given = Path(path).expanduser()
    candidate = given if given.is_absolute() else real_roots[0] / given
    real = candidate.resolve()

    def allowed(p: Path) -> bool:
        return any(p == r or p.is_relative_to(r) for r in real_roots)

    if not allowed(real):
        raise Forbidden(f"{path} is outside the import roots ({', '.join(str(r) for r in real_roots)})")
    if not real.exists():
        raise NotFound(f"{path} does not exist")
    return real, allowed
