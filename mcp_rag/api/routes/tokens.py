"""/v1/tokens: API token administration (admin scope, within the caller's namespace)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from mcp_rag import auth
from mcp_rag.api.deps import admin_principal, get_service
from mcp_rag.service import Service

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


class TokenRequest(BaseModel):
    name: str = Field("", max_length=200)
    scopes: list[str] = Field(default_factory=lambda: ["read"], min_length=1, max_length=3)


@router.post("", status_code=201, response_model=auth.NewToken)
def create_token(
    body: TokenRequest,
    service: Service = Depends(get_service),
    caller: auth.Principal = Depends(admin_principal),
) -> auth.NewToken:
    """Create a token in your namespace. The secret (`token`) is shown only in this response."""
    return auth.create_token(service, caller.namespace, body.scopes, body.name, actor=caller.actor)


@router.get("", response_model=list[auth.TokenInfo])
def list_tokens(
    service: Service = Depends(get_service), caller: auth.Principal = Depends(admin_principal)
) -> list[auth.TokenInfo]:
    return auth.list_tokens(service, caller.namespace)


@router.delete("/{token_id}", status_code=204)
def revoke_token(
    token_id: str, service: Service = Depends(get_service), caller: auth.Principal = Depends(admin_principal)
) -> Response:
    auth.revoke_token(service, token_id, caller.namespace, actor=caller.actor)
    return Response(status_code=204)
