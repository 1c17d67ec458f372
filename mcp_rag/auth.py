"""API tokens, scopes and namespaces: who is calling, and what they may see.

A token belongs to one namespace and carries scopes (read, write, admin). Only
its SHA-256 hash is stored; the secret is shown once at creation. Tokens are
random 256-bit strings, so a fast hash is enough (no password stretching), and
the stored hash is compared in constant time.

The caller of the current request is kept in a context variable so that every
door (REST routes, MCP tools over HTTP) reads it from one place. Processes that
serve a single local user (CLI, MCP over stdio) run as LOCAL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from mcp_rag.errors import Forbidden, Invalid, NotFound, Unauthorized
from mcp_rag.models import DEFAULT_NAMESPACE
from mcp_rag.store import tokens as token_sql
from mcp_rag.store.db import Database

SCOPES = ("read", "write", "admin")
TOKEN_PREFIX = "mrag_"
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Principal:
    namespace: str
    scopes: frozenset[str]
    actor: str
    token_id: UUID | None = None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this token lacks the '{scope}' scope")


LOCAL = Principal(DEFAULT_NAMESPACE, frozenset(SCOPES), "local")
_current: ContextVar[Principal] = ContextVar("mcp_rag_principal", default=LOCAL)


def current() -> Principal:
    """The caller of the request being served (LOCAL outside a request)."""
    return _current.get()


def set_current(principal: Principal) -> Token[Principal]:
    return _current.set(principal)


def reset_current(token: Token[Principal]) -> None:
    _current.reset(token)


class TokenInfo(BaseModel):
    id: UUID
    name: str
    namespace: str
    scopes: list[str]
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewToken(TokenInfo):
    token: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(scopes: str | list[str]) -> list[str]:
    items = [s.strip() for s in (scopes.split(",") if isinstance(scopes, str) else scopes) if s.strip()]
    unknown = sorted(set(items) - set(SCOPES))
    if unknown or not items:
        raise Invalid(f"scopes must be a non-empty subset of {', '.join(SCOPES)} (got {', '.join(unknown) or 'none'})")
    return [s for s in SCOPES if s in items]


def check_namespace(namespace: str) -> str:
    if not _NAMESPACE.match(namespace):
        raise Invalid("namespace must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return namespace


def create_token(
    database: Database, namespace: str, scopes: str | list[str], name: str = "", actor: str = "local"
) -> NewToken:
    """Create a token; the returned secret is shown once and never stored."""
    check_namespace(namespace)
    chosen = parse_scopes(scopes)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with database.transaction() as conn:
        row = token_sql.insert(conn, name[:200], namespace, chosen, _hash(secret), secret[:12])
        token_sql.audit(conn, actor, namespace, "token.create", str(row["id"]), {"scopes": chosen, "name": name})
    _known_tokens.invalidate()
    return NewToken(**row, token=secret)


def list_tokens(database: Database, namespace: str | None = None) -> list[TokenInfo]:
    with database.connection() as conn:
        return [TokenInfo(**r) for r in token_sql.listing(conn, namespace)]


def revoke_token(database: Database, token_id: str, namespace: str | None = None, actor: str = "local") -> TokenInfo:
    try:
        tid = UUID(token_id)
    except ValueError:
        raise NotFound(f"token {token_id!r} not found") from None
    with database.transaction() as conn:
        row = token_sql.revoke(conn, tid, namespace)
        if row is None:
            raise NotFound(f"token {token_id!r} not found")
        token_sql.audit(conn, actor, row["namespace"], "token.revoke", str(tid), {})
    _known_tokens.invalidate()
    return TokenInfo(**row)


def authenticate(database: Database, secret: str) -> Principal:
    """The principal of a bearer token; Unauthorized for unknown or revoked ones."""
    digest = _hash(secret)
    with database.transaction() as conn:
        row = token_sql.by_hash(conn, digest)
        if row is None or not hmac.compare_digest(row["token_hash"], digest):
            raise Unauthorized("invalid API token")
        if row["revoked_at"] is not None:
            raise Unauthorized("this API token has been revoked")
        token_sql.touch(conn, row["id"])
    return Principal(row["namespace"], frozenset(row["scopes"]), f"token:{row['prefix']}", row["id"])


class _TokenPresence:
    """Whether any active token exists, cached briefly: it decides if a
    loopback server still runs open, and is asked on every request."""

    ttl = 2.0

    def __init__(self) -> None:
        self._value: bool | None = None
        self._at = 0.0

    def fresh(self) -> bool | None:
        """The cached answer while it is fresh, else None (then `get` asks the database)."""
        if self._value is None or time.monotonic() - self._at > self.ttl:
            return None
        return self._value

    def get(self, database: Database) -> bool:
        value = self.fresh()
        if value is None:
            with database.connection() as conn:
                value = self._value = token_sql.active_count(conn) > 0
            self._at = time.monotonic()
        return value

    def invalidate(self) -> None:
        self._value = None


_known_tokens = _TokenPresence()


def tokens_exist(database: Database) -> bool:
    return _known_tokens.get(database)


def tokens_exist_cached() -> bool | None:
    """`tokens_exist` without touching the database: None when it would have to."""
    return _known_tokens.fresh()


def audit_log(database: Database, namespace: str, limit: int = 100) -> list[dict]:
    with database.connection() as conn:
        return token_sql.audit_entries(conn, namespace, limit)
