"""The MCP door of `serve` (streamable HTTP at /mcp), built on its first request.

The MCP SDK's import alone is ~23 MiB of the server's memory (its protocol
types for every protocol version are pydantic models; docs/PERFORMANCE.md,
memory): a server used only through REST and the web UI never pays it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from anyio.abc import TaskGroup, TaskStatus
    from mcp.server.mcpserver import MCPServer

    from mcp_rag.config import Settings
    from mcp_rag.service import Service


class LazyMcp:
    """An ASGI app serving MCP at `prefix`, its server and session manager made on first use.

    `running()` wraps the web app's lifespan: the session manager runs in its
    task group from the first MCP request until shutdown."""

    def __init__(self, get_service: Callable[[], Service], settings: Settings, prefix: str = "/mcp"):
        self.get_service, self.settings, self.prefix = get_service, settings, prefix
        self._app: ASGIApp | None = None
        self._lock: anyio.Lock | None = None
        self._tasks: TaskGroup | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            self._tasks, self._lock = tasks, anyio.Lock()
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
                self._tasks = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.prefix:
            # Clients are configured with the bare URL; the SDK's app is mounted at `prefix`/.
            root = scope.get("root_path", "")
            scope = {**scope, "root_path": root + self.prefix, "path": scope["path"] + "/"}
        await (await self._endpoint())(scope, receive, send)

    async def _endpoint(self) -> ASGIApp:
        if self._app is None:
            if self._tasks is None or self._lock is None:
                raise RuntimeError("the MCP door serves only inside the app's lifespan")
            async with self._lock:
                if self._app is None:
                    from mcp_rag.mcp import build_server, http_endpoint

                    server = build_server(self.get_service, self.settings)
                    app = http_endpoint(server)
                    await self._tasks.start(self._run, server)
                    self._app = app
        return self._app

    @staticmethod
    async def _run(server: MCPServer, *, task_status: TaskStatus) -> None:
        async with server.session_manager.run():
            task_status.started()
            await anyio.sleep_forever()
