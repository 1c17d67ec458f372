"""Operations: liveness, readiness, version."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mcp_rag import __version__
from mcp_rag.api.deps import get_service
from mcp_rag.service import Service

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict:
    """Liveness: the process answers. Touches no database, nor a worker thread."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(service: Service = Depends(get_service)) -> dict:
    """Readiness: 200 when the database answers, 503 (problem+json) otherwise."""
    await run_in_threadpool(service.ready)
    return {"status": "ready"}


@router.get("/version")
def version(service: Service = Depends(get_service)) -> dict:
    return {"version": __version__, **service.version_info()}


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics() -> Response:
    """Prometheus exposition format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
