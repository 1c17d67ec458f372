"""The MCP server over streamable HTTP, mounted in a Starlette app."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send


class _BarePath:
    """Serve `/mcp` itself with the app mounted at `/mcp/`.

    Clients are configured with the bare URL; without this, Starlette answers it
    with a redirect (or the web UI's catch-all route with 405 for a POST).
    """

    def __init__(self, app: ASGIApp, prefix: str):
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path", "")
        await self.app({**scope, "root_path": root + self.prefix, "path": scope["path"] + "/"}, receive, send)


def mount_http(app: Starlette, server: MCPServer, prefix: str = "/mcp") -> None:
    """Serve `server` over streamable HTTP at `prefix` inside `app`.

    The caller runs `server.session_manager.run()` in its lifespan. The app's
    CheckSite middleware checks Host and Origin for every path, /mcp included,
    so the SDK's own narrower check (loopback binds only) is turned off: one
    rule for the whole server.
    """
    endpoint = http_endpoint(server)
    app.router.routes.append(Route(prefix, endpoint=_BarePath(endpoint, prefix)))
    app.mount(prefix, endpoint)


def http_endpoint(server: MCPServer) -> ASGIApp:
    """`server` over streamable HTTP, as an app to mount (`mount_http`, `api/mcp_door.py`).

    The web app's CheckSite middleware checks Host and Origin for every path,
    /mcp included, so the SDK's own narrower check (loopback binds only) is
    turned off: one rule for the whole server."""
    return server.streamable_http_app(
        streamable_http_path="/", transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
