"""The FastAPI application: REST under /v1, operations endpoints, the web UI at /."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.routing import Route

from mcp_rag import __version__
from mcp_rag.api import problems
from mcp_rag.api.mcp_door import LazyMcp
from mcp_rag.api.middleware import Authenticate, BodyLimit, ObservedRequests, is_protected
from mcp_rag.api.routes import ask, conversations, imports, notes, ops, runbook, search, tokens
from mcp_rag.api.sites import AllowedSites, CheckSite
from mcp_rag.config import Settings
from mcp_rag.service import Service

log = logging.getLogger(__name__)


def ui_dir() -> Path | None:
    """Built web UI: packaged copy first, then a source checkout's frontend/dist."""
    for candidate in (
        Path(__file__).resolve().parents[1] / "static",
        Path(__file__).resolve().parents[2] / "frontend" / "dist",
    ):
        if (candidate / "index.html").is_file():
            return candidate
    return None


# The UI's screens (frontend/src/App.tsx), which a reload or a shared link asks the server for.
# Anything else is a 404: MCP clients probe /.well-known/oauth-* after a 401 and take a 404 as
# "no OAuth" (an HTML page there broke their discovery), and an old client's /sse gets told.
UI_ROUTES = ("", "chat", "conversations", "import", "settings")


def _mount_ui(app: FastAPI, root: Path) -> None:
    index = root / "index.html"
    if (root / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=root / "assets"), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    def spa(path: str, request: Request) -> FileResponse:
        # Deep links (/conversations/123) reload into the SPA; real files are served as is.
        if is_protected("/" + path):
            # An API path is never the UI: 405 if it exists for other methods, else 404.
            raise HTTPException(405 if problems.allowed_methods(request) else 404)
        file = (root / path).resolve()
        if path and file.is_file() and root in file.parents:
            return FileResponse(file)
        if path.split("/", 1)[0] not in UI_ROUTES:
            # Not a screen of the UI (/sse, /api/search, a typo): a 404, not the UI's page with a 200.
            raise HTTPException(404)
        return FileResponse(index)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def create_app(settings: Settings, service: Service | None = None) -> FastAPI:
    """The whole HTTP surface. Without API tokens it runs open only when bound to
    loopback (or told `insecure`); `mcp-rag serve` refuses other addresses."""
    service = service or Service(settings)
    mcp_door = LazyMcp(lambda: service, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with mcp_door.running():
            yield
        service.close()

    # FastAPI's /docs and /redoc load Swagger UI and ReDoc from a CDN; these serve them from the wheel.
    app = FastAPIOffline(
        title="mcp-rag",
        version=__version__,
        description="Conversation memory: ingest conversations, search them, answer with citations.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    problems.install(app)
    app.include_router(ops.router)
    app.include_router(conversations.router, responses=problems.RESPONSES)
    app.include_router(search.router, responses=problems.RESPONSES)
    app.include_router(ask.router, responses=problems.RESPONSES)
    app.include_router(tokens.router, responses=problems.RESPONSES)
    app.include_router(runbook.router, responses=problems.RESPONSES)
    app.include_router(imports.router, responses=problems.RESPONSES)
    app.include_router(notes.router, responses=problems.RESPONSES)
    # MCP over streamable HTTP at /mcp (and /mcp/...), before the UI's catch-all.
    app.router.routes.append(Route("/mcp", endpoint=mcp_door))
    app.mount("/mcp", mcp_door)
    # Middleware: the last added runs first, so requests are observed (logged,
    # counted, given an id) even when the body limit or auth turns them away.
    open_allowed = settings.host in LOOPBACK or settings.insecure
    app.add_middleware(
        Authenticate,
        service=service,
        open_allowed=open_allowed,
        rate_per_minute=settings.rate_limit_per_minute,
        failures_per_minute=settings.auth_failures_per_minute,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, upload_max_bytes=settings.max_upload_bytes)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        # Bearer tokens, not cookies: credentials are never allowed cross-origin.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=["x-request-id"],
        )
    # Before CORS and everything else: a foreign Host or a cross-site write gets no further.
    sites = AllowedSites(settings.host, settings.allowed_hosts, [*settings.allowed_origins, *settings.cors_origins])
    app.add_middleware(CheckSite, sites=sites)
    app.add_middleware(ObservedRequests)
    root = ui_dir()
    if root is not None:
        _mount_ui(app, root)
    return app
