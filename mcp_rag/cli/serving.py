"""`serve` (REST, MCP over HTTP and the web UI in one process) and `mcp` (MCP over stdio)."""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mcp_rag.cli.common import EXIT_CONFIG, EXIT_UNAVAILABLE, app, current_settings, err, fail

if TYPE_CHECKING:
    from mcp_rag.service import Service


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (MCP_RAG_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (MCP_RAG_PORT)")] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow serving a non-loopback address without API tokens")
    ] = False,
) -> None:
    """Serve REST (/v1), MCP (/mcp) and the web UI (/) in one process."""
    # The web stack is imported here, not at the top: `mcp-rag mcp` loads this module too.
    import uvicorn

    from mcp_rag import auth, logs, tracing
    from mcp_rag.api.app import LOOPBACK, create_app
    from mcp_rag.service import Service

    settings = current_settings(host=host, port=port, insecure=insecure or None)
    logs.configure(settings.log_level, settings.log_json)
    tracing.configure(settings.otel_endpoint)
    _check_port(settings.host, settings.port)
    service = Service(settings)
    _wait_for_database(service, settings.db_wait_seconds)
    if settings.host not in LOOPBACK:
        if not auth.tokens_exist(service):
            if not settings.insecure:
                raise fail(
                    f"refusing to serve on {settings.host} without API tokens: create one with "
                    "`mcp-rag tokens create --namespace default --scopes read,write,admin`, "
                    "or pass --insecure to serve open",
                    EXIT_CONFIG,
                )
            err.print(f"warning: serving on {settings.host} with no API tokens (--insecure): anyone can read and write")
    err.print(f"mcp-rag serving on http://{settings.host}:{settings.port}", highlight=False)
    if settings.host in ("0.0.0.0", "::") and not settings.allowed_hosts:
        err.print("note: only loopback names are answered (421 otherwise); list the others in MCP_RAG_ALLOWED_HOSTS")
    threading.Thread(target=service.warm_up, name="warm-up", daemon=True).start()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler
    # in place before it ran: exiting normally there lets the embedded PostgreSQL
    # be stopped by its exit hook (the default handler would skip it).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    config = uvicorn.Config(
        create_app(settings, service),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,
        ws="none",  # no route speaks WebSocket: its protocol modules are not loaded
        # uvloop (uvicorn's choice when installed) maps ~2 MiB more than asyncio's own loop and
        # saves ~1% of a search's time: the lean profile runs asyncio's (docs/PERFORMANCE.md, memory).
        loop="asyncio" if settings.memory_profile == "lean" else "auto",
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )

    class Server(uvicorn.Server):
        """Tells the service when a stop signal comes, so imports in flight end at their next read
        instead of holding the shutdown."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            service.stopping.set()
            super().handle_exit(sig, frame)

    Server(config).run()


def _exit_on_sigterm(*_: Any) -> None:
    # Everything still alive is moved out of the collector's reach: the interpreter's last
    # collection over the model, tokenizer and pools took seconds, and nothing in them needs it.
    gc.freeze()
    sys.exit(0)


SHUTDOWN_GRACE_S = 5  # open streams (MCP sessions, answers) get this long; with PostgreSQL's stop, under 10 s


def _wait_for_database(service: Service, seconds: float) -> None:
    from mcp_rag.errors import Unavailable
    from mcp_rag.startup import wait_for_database

    try:
        wait_for_database(service, seconds)
    except Unavailable as exc:
        raise fail(f"{exc} (MCP_RAG_DB_WAIT_SECONDS={seconds:g})", EXIT_UNAVAILABLE) from None


def _check_port(host: str, port: int) -> None:
    """Refuse a port another process listens on, before anything starts: uvicorn would find
    out only after start-up, and exit with the model still loading on its thread (an abort)."""
    try:
        socket.create_server((host, port)).close()  # SO_REUSEADDR, as uvicorn binds
    except OSError as exc:
        raise fail(
            f"cannot serve on {host}:{port}: {os.strerror(exc.errno) if exc.errno else exc} (another mcp-rag serve?);"
            " pass --port or set MCP_RAG_PORT",
            EXIT_CONFIG,
        ) from None


@app.command("mcp")
def mcp_stdio() -> None:
    """Serve MCP over stdio, for Claude Desktop, Cursor, Codex (stdout carries protocol only)."""
    settings = current_settings()
    # Clients time the handshake from process start, and the `mcp` SDK's import (some 50k
    # long-lived objects, mostly pydantic models) is most of it. The cyclic GC walking those
    # objects again and again while they are built is wasted work: pause it for the
    # import, then freeze what was built so later collections skip it.
    gc.disable()
    try:
        from mcp_rag.stdio import run_stdio
    finally:
        gc.freeze()
        gc.enable()
    run_stdio(settings)
