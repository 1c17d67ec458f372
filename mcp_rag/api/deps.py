"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from fastapi import Request

from mcp_rag.service import DEFAULT_NAMESPACE, Service


def get_service(request: Request) -> Service:
    return request.app.state.service


def get_namespace(request: Request) -> str:
    """The caller's namespace. Until API tokens exist every caller uses the default."""
    return DEFAULT_NAMESPACE
