"""/v1/remember: keep one note or fact, searchable like any turn."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from mcp_rag.api.deps import get_service, write_namespace
from mcp_rag.models import Remembered
from mcp_rag.service import Service

router = APIRouter(prefix="/v1", tags=["conversations"])


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(..., min_length=1, max_length=20_000, description="The fact or note")
    author: str | None = Field(None, max_length=256, description="Who said it (default: the caller)")
    timestamp: datetime | None = Field(None, description="When it was said (default: now)")


@router.post("/remember", status_code=201, response_model=Remembered)
def remember(
    body: Note, service: Service = Depends(get_service), namespace: str = Depends(write_namespace)
) -> Remembered:
    """Store a note in the namespace's notes conversation (id `notes`), with its author and time."""
    return service.remember(body.note, namespace, body.author, body.timestamp)
