"""/v1/ask: answers with citations, as one JSON object or as server-sent events."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends
from sse_starlette.sse import EventSourceResponse

from mcp_rag.api.deps import get_namespace, get_service
from mcp_rag.api.problems import problem, status_of
from mcp_rag.errors import McpRagError
from mcp_rag.models import Answer, AskRequest
from mcp_rag.service import Service

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["ask"])


@router.post(
    "/ask",
    response_model=Answer,
    responses={200: {"content": {"text/event-stream": {}}, "description": "With stream=true: SSE events"}},
)
def ask(
    body: AskRequest, service: Service = Depends(get_service), namespace: str = Depends(get_namespace)
) -> Answer | EventSourceResponse:
    """Answer a question from stored conversations with numbered citations.

    With `stream: true` the reply is `text/event-stream`: `sources`, then `token`
    events, then `done` (the full answer object) or `error` (a problem object).
    """
    if not body.stream:
        return service.ask(body, namespace)
    # Retrieval runs here, before the stream opens, so bad filters are an ordinary 4xx.
    events = service.ask_stream(body, namespace)
    return EventSourceResponse(_sse(events), ping=15)


def _sse(events: Iterator[tuple[str, Any]]) -> Iterator[dict[str, str]]:
    try:
        for kind, payload in events:
            if kind == "error":
                yield _error(payload)
                return
            if isinstance(payload, Answer):
                payload = payload.model_dump(mode="json")
            yield {"event": kind, "data": json.dumps(payload, ensure_ascii=False)}
    except McpRagError as exc:
        yield _error(exc)
    except Exception:
        log.exception("ask stream failed")
        yield {
            "event": "error",
            "data": bytes(problem(500, "Internal error", "the answer stream failed").body).decode(),
        }


def _error(exc: McpRagError) -> dict[str, str]:
    return {"event": "error", "data": bytes(problem(status_of(exc), exc.title, str(exc)).body).decode()}
