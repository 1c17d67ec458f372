"""FastAPI dependencies shared by the routers.

All are `async def` although none awaits: they only read the request and the
caller set by the Authenticate middleware, and FastAPI runs a plain `def`
dependency on a worker thread, one thread hop per dependency per request."""

from __future__ import annotations

from fastapi import Request

from mcp_rag import auth
from mcp_rag.service import Service


async def get_service(request: Request) -> Service:
    return request.app.state.service


async def get_namespace() -> str:
    """The caller's namespace, for reading. The Authenticate middleware has set the caller."""
    principal = auth.current()
    principal.require("read")
    return principal.namespace


async def write_namespace() -> str:
    """The caller's namespace, for writing (ingest, append, import, delete)."""
    principal = auth.current()
    principal.require("write")
    return principal.namespace


async def admin_principal() -> auth.Principal:
    principal = auth.current()
    principal.require("admin")
    return principal
