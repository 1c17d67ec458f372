"""The operator runbook's calls, verbatim: thin aliases over /v1.

    POST /ingest {"conversation_id": "test-123", "content": "test message"}
    POST /search {"query": "test", "limit": 5}
    POST /ask {"question": "What is MCP?", "conversation_id": "test-123"}

Each /ingest call adds one message to the conversation, creating it on first
use. Prefer the /v1 endpoints in new code.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from mcp_rag.api.deps import get_namespace, get_service, write_namespace
from mcp_rag.models import Answer, AskRequest, IngestResult, MessageIn, SearchRequest, SearchResult
from mcp_rag.service import Service

router = APIRouter(tags=["runbook aliases"])


class RunbookIngest(BaseModel):
    conversation_id: str = Field(..., min_length=1, max_length=512)
    content: str = Field(..., description="The message text")
    author: str | None = Field(None, max_length=256)
    role: str | None = Field(None, max_length=32)


class RunbookSearch(BaseModel):
    query: str = Field(..., min_length=1, max_length=4000)
    limit: int = Field(10, ge=1, le=100)
    conversation_id: str | None = None


@router.post("/ingest", status_code=201, response_model=IngestResult)
def ingest(
    body: RunbookIngest, service: Service = Depends(get_service), namespace: str = Depends(write_namespace)
) -> IngestResult:
    """Alias: append one message to a conversation, creating it if needed."""
    message = MessageIn(content=body.content, author=body.author, role=body.role)
    return service.append_messages(body.conversation_id, [message], namespace, create=True)


@router.post("/search", response_model=SearchResult)
def search(
    body: RunbookSearch, service: Service = Depends(get_service), namespace: str = Depends(get_namespace)
) -> SearchResult:
    """Alias of POST /v1/search with `limit` for `top_k`."""
    req = SearchRequest(query=body.query, top_k=body.limit, conversation_id=body.conversation_id)
    return service.search(req, namespace)


@router.post("/ask", response_model=Answer)
def ask(body: AskRequest, service: Service = Depends(get_service), namespace: str = Depends(get_namespace)) -> Answer:
    """Alias of POST /v1/ask (non-streaming; use /v1/ask for server-sent events)."""
    return service.ask(body.model_copy(update={"stream": False}), namespace)
