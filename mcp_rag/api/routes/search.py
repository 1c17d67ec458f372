"""/v1/search: hybrid search over conversation chunks."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from mcp_rag.api.deps import get_namespace, get_service
from mcp_rag.models import TIME_HELP, SearchRequest, SearchResult
from mcp_rag.service import Service

router = APIRouter(prefix="/v1", tags=["search"])


# The search endpoints are `async def` and send the search itself to a worker thread:
# FastAPI validates a plain `def` endpoint's result on a second worker thread, one more
# hop per request (docs/PERFORMANCE.md).
@router.post("/search", response_model=SearchResult)
async def search(
    body: SearchRequest,
    service: Service = Depends(get_service),
    namespace: str = Depends(get_namespace),
) -> SearchResult:
    return await run_in_threadpool(service.search, body, namespace)


@router.get("/search", response_model=SearchResult)
async def search_get(
    q: str = Query(..., min_length=1, max_length=4000),
    top_k: int = Query(10, ge=1, le=100),
    conversation_id: str | None = None,
    author: str | None = None,
    role: str | None = None,
    source: str | None = None,
    since: str | None = Query(None, max_length=100, description=TIME_HELP),
    until: str | None = Query(None, max_length=100, description=TIME_HELP),
    timezone: str | None = Query(None, max_length=64, description="IANA zone for times in words (default UTC)"),
    service: Service = Depends(get_service),
    namespace: str = Depends(get_namespace),
) -> SearchResult:
    req = SearchRequest(
        query=q,
        top_k=top_k,
        conversation_id=conversation_id,
        author=author,
        role=role,
        source=source,
        since=since,
        until=until,
        timezone=timezone,
    )
    return await run_in_threadpool(service.search, req, namespace)
