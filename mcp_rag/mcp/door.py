"""Where each tool meets the core: the caller's namespace, the one mapping of the core's
errors to tool errors, and how tools are registered."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field, ValidationError

from mcp_rag import validation
from mcp_rag.errors import McpRagError
from mcp_rag.models import MAX_ID_CHARS

if TYPE_CHECKING:
    from mcp_rag.service import Service

F = TypeVar("F", bound=Callable[..., Any])

ConversationId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ID_CHARS,
        description="The conversation's id: our uuid or the id it was ingested with",
    ),
]

READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def namespace_of(ctx: Context | None, scope: str = "read") -> str:
    """The caller's namespace for an action needing `scope` (read or write): the one
    place every tool and resource asks.

    Over HTTP the SDK runs tools in the context of the POST that carried the
    call, so the caller set by the Authenticate middleware (its token's
    namespace and scopes) reaches here; over stdio there is no request and the
    local user owns the process (auth.LOCAL).
    """
    from mcp_rag import auth

    principal = auth.current()
    principal.require(scope)
    return principal.namespace


def _explain(exc: ValidationError) -> str:
    return validation.describe(exc, limit=5)


def door(fn: F) -> F:
    """Map the core's errors to tool errors with a message the model can act on."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        from mcp_rag import metrics  # imported on the first call: keeps the handshake fast

        outcome = "error"
        try:
            with metrics.timed(metrics.mcp_tool_latency.labels(fn.__name__)):
                result = fn(*args, **kwargs)
            outcome = "ok"
            return result
        except McpRagError as exc:
            raise ToolError(f"{exc.title}: {exc}") from exc
        except ValidationError as exc:
            raise ToolError(f"Invalid input: {_explain(exc)}") from None
        finally:
            metrics.mcp_tool_calls.labels(fn.__name__, outcome).inc()

    return call  # type: ignore[return-value]


class Tools:
    """Registers tools on `server`, each calling the service that `service()` returns.

    Tools are listed in the order they are registered."""

    def __init__(self, server: MCPServer, service: Callable[[], Service]):
        self.server, self.service = server, service

    def __call__(self, annotations: ToolAnnotations, title: str) -> Callable[[F], F]:
        def register(fn: F) -> F:
            self.server.add_tool(
                door(fn),
                title=title,
                description=inspect.cleandoc(fn.__doc__ or ""),
                annotations=annotations,
                structured_output=True,
            )
            return fn

        return register

    def deadline(self) -> float:
        """When a call started now must return, done or not (mcp_call_seconds from now)."""
        return time.monotonic() + self.service().settings.mcp_call_seconds
