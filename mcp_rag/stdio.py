"""MCP over stdin/stdout, as Claude Desktop, Cursor or Codex spawn it.

The SDK's stdio transport serves the protocol; this module adds what a spawned
process owes its client beyond it:

- **An answer to every line.** The SDK drops a line it cannot read (a lone
  UTF-16 surrogate from a string cut in half, a truncated or non-JSON line, JSON
  nested too deep) without a word, and the client waits for its own timeout.
  Here each gets a JSON-RPC error: with the request's id when the line still
  parses as JSON, else with a null id (JSON-RPC 2.0, section 5.1).
- **A prompt exit on SIGTERM and SIGINT.** The SDK reads stdin on a worker
  thread that no cancellation interrupts, so a plain exit waits until the
  client closes the pipe; and a process killed by SIGTERM skips the exit hook
  that stops the embedded PostgreSQL when its last user leaves. MCP clients
  shut a server down by closing stdin, then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from mcp_rag.config import Settings
from mcp_rag.mcp import build_server

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from mcp_rag.service import Service

log = logging.getLogger(__name__)


def run_stdio(settings: Settings) -> None:
    """Serve MCP over stdin/stdout until the client closes the pipe or signals us.

    Logs go to stderr; the SDK also points fd 1 at stderr while it runs, so a
    stray print (ours or a library's) cannot corrupt the protocol stream.
    """
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    service: Service | None = None
    lock = threading.Lock()  # tools run on worker threads; build one Service, once

    def get_service() -> Service:
        nonlocal service
        with lock:
            if service is None:
                from mcp_rag.service import Service

                service = Service(settings)
        return service

    def leave(signum: int, _frame: Any) -> None:
        log.info("%s: shutting down", signal.Signals(signum).name)
        if service is not None:
            service.close()
        atexit._run_exitfuncs()  # the embedded PostgreSQL's hook: the last process to leave stops it
        os._exit(0 if signum == signal.SIGTERM else 128 + signum)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)
    try:
        anyio.run(_serve, build_server(get_service, settings))
    finally:
        if service is not None:
            service.close()


async def _serve(server: MCPServer) -> None:
    # What MCPServer.run("stdio") does, with the read stream wrapped; the SDK offers no
    # public way to see the lines it could not read, hence its low-level server here.
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(
            _Answering(read_stream, write_stream), write_stream, lowlevel.create_initialization_options()
        )


class _Answering:
    """The transport's read stream, answering each line it could not read instead of
    passing the SDK's exception on (which logs it at debug level and drops it)."""

    def __init__(self, inner: Any, write_stream: Any):
        self._inner = inner
        self._write = write_stream

    @property
    def last_context(self) -> Any:  # the sender's context, which the SDK's dispatcher restores
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage:
        while True:
            item = await self._inner.receive()
            if not isinstance(item, Exception):
                return item
            reply = unreadable_line_reply(item)
            if reply is not None:
                await self._write.send(SessionMessage(reply))

    def __aiter__(self) -> _Answering:
        return self

    async def __anext__(self) -> SessionMessage:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _Answering:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def unreadable_line_reply(exc: Exception) -> types.JSONRPCError | None:
    """The JSON-RPC error for a line the transport could not read, or None for a
    notification (no reply is owed). `exc` is what the SDK's reader raised."""
    line = _line_of(exc)
    if line is None:  # valid JSON, but not a JSON-RPC 2.0 message: the reader kept no line
        log.warning("stdin: not a JSON-RPC 2.0 message: %s", exc)
        return _error(None, types.INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 message")
    try:
        message = json.loads(line)
    except (ValueError, RecursionError) as parse:
        log.warning("stdin: a line that is not JSON (%s): %.200s", parse, line)
        return _error(None, types.PARSE_ERROR, f"Parse error: the line is not JSON ({_first_error(exc)})")
    request_id = message.get("id") if isinstance(message, dict) else None
    if not isinstance(request_id, int | str) or isinstance(request_id, bool):
        if isinstance(message, dict) and "id" not in message and "method" in message:
            log.warning("stdin: an unreadable notification, dropped: %.200s", line)
            return None
        request_id = None
    log.warning("stdin: an unreadable request (%s): %.200s", _first_error(exc), line)
    return _error(request_id, types.INVALID_REQUEST, f"Invalid request: {_why(message, exc)}")


def _line_of(exc: Exception) -> str | None:
    """The raw line behind a JSON parse failure (pydantic keeps it as the error's input)."""
    if isinstance(exc, ValidationError):
        for error in exc.errors():
            if error["type"] == "json_invalid" and isinstance(error.get("input"), str):
                return error["input"]
    return None


def _why(message: Any, exc: Exception) -> str:
    try:
        json.dumps(message, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return (
            "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text;"
            " send whole characters (a string cut in the middle of an emoji does this)"
        )
    return _first_error(exc)


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        return exc.errors()[0]["msg"]
    return str(exc)


def _error(request_id: int | str | None, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message))
