"""/v1/conversations: ingest, append, list, read, delete."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from mcp_rag.api.deps import get_namespace, get_service, write_namespace
from mcp_rag.models import (
    AROUND_AFTER,
    AROUND_BEFORE,
    MAX_ID_CHARS,
    ConversationIn,
    ConversationPage,
    IngestResult,
    MessageIn,
    Transcript,
)
from mcp_rag.service import MAX_PAGE, Service

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


@router.post(
    "",
    status_code=201,
    response_model=IngestResult,
    responses={200: {"model": IngestResult, "description": "Known conversation: only unseen messages were appended"}},
)
def ingest_conversation(
    body: ConversationIn,
    response: Response,
    service: Service = Depends(get_service),
    namespace: str = Depends(write_namespace),
) -> IngestResult:
    """Store a conversation. Re-sending a known id appends only unseen messages (200)."""
    result = service.ingest(body, namespace)
    if not result.created:
        response.status_code = 200
    return result


@router.post("/{conversation_id}/messages", response_model=IngestResult)
def append_messages(
    conversation_id: str,
    body: list[MessageIn],
    service: Service = Depends(get_service),
    namespace: str = Depends(write_namespace),
) -> IngestResult:
    """Append messages to a conversation (by our id or yours)."""
    return service.append_messages(conversation_id, body, namespace)


@router.get("", response_model=ConversationPage)
def list_conversations(
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    cursor: str | None = Query(None, max_length=200),
    source: str | None = Query(None, max_length=100),
    q: str | None = Query(None, max_length=200, description="Filter by title or id"),
    author: str | None = Query(None, max_length=256, description="Only conversations this person took part in"),
    service: Service = Depends(get_service),
    namespace: str = Depends(get_namespace),
) -> ConversationPage:
    return service.list_conversations(namespace, limit, cursor, source, q, author)


@router.get("/{conversation_id}", response_model=Transcript)
def get_conversation(
    conversation_id: str,
    offset: int = Query(0, ge=0),
    limit: int = Query(200, ge=1, le=MAX_PAGE),
    around: str | None = Query(
        None, max_length=MAX_ID_CHARS, description="A message id: read the messages around it instead of from offset"
    ),
    before: int = Query(AROUND_BEFORE, ge=0, le=MAX_PAGE - 1, description="With around: messages before it"),
    after: int = Query(AROUND_AFTER, ge=0, le=MAX_PAGE - 1, description="With around: messages after it"),
    service: Service = Depends(get_service),
    namespace: str = Depends(get_namespace),
) -> Transcript:
    """A page of a conversation, from `offset` or around one message (`around`, `before`, `after`)."""
    return service.get_conversation(conversation_id, namespace, offset, limit, around, before, after)


@router.delete("/{conversation_id}", status_code=204)
def delete_conversation(
    conversation_id: str,
    service: Service = Depends(get_service),
    namespace: str = Depends(write_namespace),
) -> Response:
    service.delete_conversation(conversation_id, namespace)
    return Response(status_code=204)
