"""Errors as RFC 9457 problem+json, mapped once for the whole REST door."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from mcp_rag.errors import McpRagError, Unavailable

log = logging.getLogger(__name__)


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error response."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


def _documented(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": Problem.model_json_schema()}},
    }


# Documented on every API route so clients (and schemathesis) know the error shapes.
RESPONSES: dict[int | str, dict] = {
    400: _documented("Body could not be decoded"),
    401: _documented("Missing, unknown or revoked API token"),
    403: _documented("The token lacks the needed scope, or a write came from another site's page"),
    404: _documented("Not found in the caller's namespace"),
    409: _documented("Conflicting state"),
    413: _documented("Request body too large"),
    421: _documented("The Host header names a host this server does not answer to"),
    422: _documented("Invalid input"),
    429: _documented("Rate limit exceeded; see Retry-After"),
    503: _documented("Database or model unavailable; see Retry-After"),
}


def problem(status: int, title: str, detail: str, **extra) -> JSONResponse:
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def _request_error(e: dict[str, Any]) -> dict[str, str]:
    """One error of a request, in words a caller can act on: FastAPI says "25: JSON decode
    error" for broken JSON, and "not a valid dictionary" for a body sent without its type."""
    loc = tuple(e.get("loc", ()))
    if e.get("type") == "json_invalid":
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        reason = (e.get("ctx") or {}).get("error", "")
        return {"loc": "body", "msg": f"not valid JSON{at}" + (f" ({reason})" if reason else "")}
    if loc == ("body",) and isinstance(e.get("input"), bytes | str):
        return {"loc": "body", "msg": "expected a JSON body; send it with Content-Type: application/json"}
    return {"loc": _where(loc), "msg": e.get("msg", "invalid")}


def body_error(exc: HTTPException) -> str | None:
    """Why a JSON body could not be read, from the error FastAPI wraps in its generic
    "There was an error parsing the body"; None when the cause is something else."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return f"body: not valid {cause.encoding.upper()} at byte {cause.start} ({cause.reason})"
    if isinstance(cause, RecursionError):
        # The parser recurses once per level; with the server's stack it stops past several hundred.
        return "body: JSON nested too deeply (arrays and objects may nest at most a few hundred levels)"
    return None


def allowed_methods(request: Request) -> str:
    """Every method the API documents at this path (Starlette lists only the first route's)."""
    import re

    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods |= {m.upper() for m in operations}
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    @app.exception_handler(McpRagError)
    async def _core(request: Request, exc: McpRagError):
        if isinstance(exc, Unavailable):
            log.warning("unavailable: %s", exc)
        return problem(exc.status, exc.title, str(exc))

    # Models built inside a route (e.g. from query parameters) fail as a ValidationError, not in FastAPI.
    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: RequestValidationError | ValidationError):
        errors = [_request_error(e) for e in exc.errors()]
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5])
        return problem(422, "Invalid input", detail, errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        if exc.status_code == 400 and (reason := body_error(exc)) is not None:
            return problem(422, "Invalid input", reason, errors=[{"loc": "body", "msg": reason.removeprefix("body: ")}])
        response = problem(exc.status_code, str(exc.detail), str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = allowed_methods(request)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "an unexpected error occurred; see the server log")
