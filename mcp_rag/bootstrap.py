"""Register a deploy's token: `python -m mcp_rag.bootstrap`, run by the migration Job.

MCP_RAG_BOOTSTRAP_TOKEN (from the Secret mcp-rag-smoke-token, which deploy.sh
creates with a random value when it is missing) becomes an API token with the
read and write scopes in the namespace `smoke-test`, unless its hash is
already stored. So a first deploy has a token before any backend pod starts
(`serve` refuses a non-loopback address without one), and the smoke tests use
it. Humans get their own tokens with `mcp-rag tokens create` (docs/CICD.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys

from mcp_rag.config import load_settings
from mcp_rag.service import Service
from mcp_rag.store import tokens as token_sql

log = logging.getLogger(__name__)

ENV = "MCP_RAG_BOOTSTRAP_TOKEN"
NAMESPACE = "smoke-test"
SCOPES = ["read", "write"]
NAME = "deploy smoke tests"
MIN_LENGTH = 32


def register(service: Service, secret: str) -> bool:
    """Store `secret` as the smoke-test token; False when it was stored already."""
    if len(secret) < MIN_LENGTH:
        raise ValueError(f"{ENV} must be at least {MIN_LENGTH} characters")
    digest = hashlib.sha256(secret.encode()).hexdigest()
    with service.transaction() as conn:
        if token_sql.by_hash(conn, digest) is not None:
            return False
        row = token_sql.insert(conn, NAME, NAMESPACE, SCOPES, digest, secret[:12])
        token_sql.audit(conn, "deploy", NAMESPACE, "token.create", str(row["id"]), {"scopes": SCOPES, "name": NAME})
    return True


def main() -> int:
    secret = os.environ.get(ENV, "").strip()
    if not secret:
        print(f"bootstrap: {ENV} is not set; no token registered", file=sys.stderr)
        return 0
    service = Service(load_settings(auto_migrate=False))
    try:
        created = register(service, secret)
    except ValueError as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 2
    finally:
        service.close()
    print(f"bootstrap: smoke-test token {'registered' if created else 'already registered'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
