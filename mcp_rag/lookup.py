"""Finding what a caller names: a conversation by its id, filters as the stored
names they mean, and who is acting (for the audit log)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.engine import Connection

from mcp_rag import names
from mcp_rag.errors import Invalid, NotFound
from mcp_rag.models import SearchFilters, check_reference
from mcp_rag.store import conversations as conv_sql


def find(conn: Connection, namespace: str, reference: str) -> UUID | None:
    """A conversation by our uuid or the caller's id; a malformed reference is Invalid."""
    try:
        reference = check_reference(reference, "conversation id")
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    return conv_sql.find_id(conn, namespace, reference)


def missing(conn: Connection, namespace: str, reference: str) -> NotFound:
    """NotFound for a conversation id, naming the closest ids and titles stored."""
    near = names.closest(reference, conv_sql.recent_references(conn, namespace), n=5)
    hint = f"; closest: {', '.join(near)}" if near else "; list_conversations shows what is stored"
    return NotFound(f"conversation {reference!r} not found{hint}")


def resolve(conn: Connection, namespace: str, filters: SearchFilters) -> SearchFilters:
    """An author as the stored names it means (`names.matching`), a source as stored
    (case ignored). A filter that matches nothing is Invalid, naming the closest
    participants or sources, rather than an empty result that looks like "never said"."""
    if filters.source:
        stored = conv_sql.sources(conn, namespace)
        same = [s for s in stored if names.fold(s) == names.fold(filters.source)]
        if not same:
            raise Invalid(names.hint("source", filters.source, stored))
        filters = filters.model_copy(update={"source": same[0]})
    if filters.author:
        people = conv_sql.participants(conn, namespace)
        matched = names.matching(filters.author, people)
        if not matched:
            raise Invalid(names.hint("participant", filters.author, people))
        filters = filters.with_authors(matched)
    return filters


def actor() -> str:
    """Who is acting, for the audit log (the caller of the current request, or local)."""
    from mcp_rag import auth  # imported here: only writes need it, not start-up

    return auth.current().actor
