"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from fastapi import Request

from mcp_rag import auth
from mcp_rag.service import Service


def get_service(request: Request) -> Service:
    return request.app.state.service


def get_namespace() -> str:
    """The caller's namespace, for reading. The Authenticate middleware has set the caller."""
    principal = auth.current()
    principal.require("read")
    return principal.namespace


def write_namespace() -> str:
    """The caller's namespace, for writing (ingest, append, import, delete)."""
    principal = auth.current()
    principal.require("write")
    return principal.namespace


def admin_principal() -> auth.Principal:
    principal = auth.current()
    principal.require("admin")
    return principal
