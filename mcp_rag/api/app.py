"""The FastAPI application: REST under /v1, operations endpoints, the web UI at /."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from mcp_rag import __version__
from mcp_rag.api import problems
from mcp_rag.api.routes import conversations, ops, search
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


def _mount_ui(app: FastAPI, root: Path) -> None:
    index = root / "index.html"
    if (root / "assets").is_dir():
        app.mount("/assets", StaticFiles(directory=root / "assets"), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    def spa(path: str):
        # Deep links (/conversations/123) reload into the SPA; real files are served as is.
        file = (root / path).resolve()
        if path and file.is_file() and root in file.parents:
            return FileResponse(file)
        return FileResponse(index)


def create_app(settings: Settings, service: Service | None = None) -> FastAPI:
    service = service or Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.close()

    app = FastAPI(
        title="mcp-rag",
        version=__version__,
        description="Conversation memory: ingest conversations, search them, answer with citations.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    problems.install(app)
    app.include_router(ops.router)
    app.include_router(conversations.router)
    app.include_router(search.router)
    root = ui_dir()
    if root is not None:
        _mount_ui(app, root)
    return app
