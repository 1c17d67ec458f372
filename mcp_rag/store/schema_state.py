"""Whether the database's schema suits this release: what /ready reports.

Compatible: the database is at this release's head revision, or at a revision
this release does not know, which a newer release wrote (migrations only add
to the schema between two releases, so the previous release keeps working on
it: that is what blue-green and rolling updates need). Not compatible: no
schema yet, or an older revision of this release's history (not migrated yet).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from mcp_rag.errors import Unavailable
from mcp_rag.store import db, revisions


def incompatibility(revision: str | None) -> str | None:
    """Why a database at `revision` cannot be served by this release, or None when it can."""
    head = revisions.head()
    if revision == head:
        return None
    if revision is None:
        return f"the database has no schema yet; run the migrations (to {head})"
    if revision not in revisions.known():
        return None  # written by a newer release
    return f"the database schema is at {revision}, this release needs {head}; run the migrations"


def require_compatible(engine: Engine) -> None:
    """Raise Unavailable unless the database's schema suits this release."""
    reason = incompatibility(db.current_revision(engine))
    if reason is not None:
        raise Unavailable(reason)
