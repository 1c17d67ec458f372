"""The MCP door: tools and resources over the service, for stdio and streamable HTTP.

Thin like the other doors: each tool parses its arguments, calls one service
function and returns the service's own model as structured output. Errors of
the core (and pydantic validation) are mapped once, in `_door`, to MCP tool
errors the model can read and act on.

Nothing here touches the database or the embedding model at import or
construction time, and the service module itself (SQLAlchemy, the store, the
embedder) is imported on the first tool call: `initialize` must be answered
fast, or clients that kill slow servers give up on us.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from uuid import UUID

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_rag import __version__
from mcp_rag.errors import McpRagError, NotFound
from mcp_rag.importers.report import ImportResult
from mcp_rag.models import (
    MAX_ID_CHARS,
    MAX_PAGE,
    Answer,
    AskRequest,
    ConversationIn,
    ConversationPage,
    IngestResult,
    MessageIn,
    SearchRequest,
    SearchResult,
    Transcript,
)

if TYPE_CHECKING:
    from mcp_rag.service import Service

INSTRUCTIONS = """\
Long-term memory of past conversations (chats, Slack threads, support tickets, assistant sessions).
Use search_conversations to find what was said, by whom and when; every hit names its conversation
and message ids, so quote and cite them. Use ask for a short cited answer, get_conversation to read
a transcript in pages, ingest_conversation to remember a conversation. Conversation ids are ours
(uuid) or the id the conversation was stored with."""

F = TypeVar("F", bound=Callable[..., Any])

ConversationId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_ID_CHARS,
        description="The conversation's id: our uuid or the id it was ingested with",
    ),
]


class DeletedConversation(BaseModel):
    id: UUID = Field(description="Our id of the conversation that was deleted")
    deleted: bool = True


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
    parts = []
    for e in exc.errors()[:5]:
        where = ".".join(str(p) for p in e["loc"])
        parts.append(f"{where}: {e['msg']}" if where else e["msg"])
    return "; ".join(parts)


def _door(fn: F) -> F:
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


READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def build_server(service: Callable[[], Service]) -> MCPServer:
    """An MCP server whose tools call the service `service()` returns. Cheap: nothing is started here."""
    server = MCPServer(
        "mcp-rag",
        title="mcp-rag conversation memory",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
    )

    def tool(annotations: ToolAnnotations, title: str) -> Callable[[F], F]:
        def register(fn: F) -> F:
            server.add_tool(
                _door(fn),
                title=title,
                description=inspect.cleandoc(fn.__doc__ or ""),
                annotations=annotations,
                structured_output=True,
            )
            return fn

        return register

    @tool(
        ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False),
        "Store a conversation",
    )
    def ingest_conversation(
        messages: Annotated[
            list[MessageIn],
            Field(min_length=1, description="The turns in order; each needs content, ideally author and timestamp"),
        ],
        ctx: Context,
        conversation_id: Annotated[
            str | None,
            Field(
                max_length=MAX_ID_CHARS,
                description="Your stable id for it. Re-sending the same id appends only unseen messages, "
                "never duplicates. Omitted: derived from the content.",
            ),
        ] = None,
        title: Annotated[str | None, Field(max_length=1000, description="A short title")] = None,
        source: Annotated[
            str | None, Field(max_length=100, description="Where it comes from: slack, chatgpt, claude, ...")
        ] = None,
        url: Annotated[str | None, Field(max_length=2000, description="Link to the original")] = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="Any JSON object to keep with it")] = None,
    ) -> IngestResult:
        """Store a conversation in long-term memory so it can be searched and read back later.

        Use this to remember a chat, a meeting transcript or a thread verbatim. Messages are kept
        exactly as given and indexed for search. Safe to repeat: sending the same conversation_id
        again stores only messages not seen before. Returns our id for the conversation and counts.
        """
        conv = ConversationIn.model_validate(
            {
                "id": conversation_id,
                "title": title,
                "source": source,
                "url": url,
                "metadata": metadata or {},
                "messages": [m.model_dump() for m in messages],
            }
        )
        return service().ingest(conv, namespace_of(ctx, "write"))

    @tool(
        ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False),
        "Append messages to a conversation",
    )
    def append_messages(
        conversation_id: ConversationId,
        messages: Annotated[list[MessageIn], Field(min_length=1, description="New turns, in order")],
        ctx: Context,
    ) -> IngestResult:
        """Add new turns to the end of a conversation already in memory.

        Messages with an id already stored are skipped; messages without an id are always appended.
        Fails if the conversation does not exist (use ingest_conversation to create it).
        """
        return service().append_messages(conversation_id, messages, namespace_of(ctx, "write"))

    @tool(READ, "Search past conversations")
    def search_conversations(
        query: Annotated[
            str, Field(min_length=1, max_length=4000, description="What to look for, in natural language or keywords")
        ],
        ctx: Context,
        top_k: Annotated[int, Field(ge=1, le=100, description="How many hits to return")] = 10,
        conversation_id: Annotated[
            str | None, Field(max_length=MAX_ID_CHARS, description="Only search this conversation")
        ] = None,
        author: Annotated[str | None, Field(max_length=256, description="Only turns written by this author")] = None,
        source: Annotated[
            str | None, Field(max_length=100, description="Only conversations from this source, e.g. slack")
        ] = None,
        since: Annotated[datetime | None, Field(description="Only turns at or after this ISO 8601 time")] = None,
        until: Annotated[datetime | None, Field(description="Only turns at or before this ISO 8601 time")] = None,
    ) -> SearchResult:
        """Search everything stored in memory for turns relevant to a query (hybrid keyword + semantic search).

        Use this first when the user refers to something discussed before ("what did Kate say about
        the trip?", "when did we decide X?"). Each hit carries the passage with speakers and dates,
        the conversation id and title, and the ids of the messages it covers: cite those, and call
        get_conversation to read the surrounding turns. Narrow with the optional filters.
        """
        req = SearchRequest(
            query=query,
            top_k=top_k,
            conversation_id=conversation_id,
            author=author,
            source=source,
            since=since,
            until=until,
        )
        return service().search(req, namespace_of(ctx))

    @tool(READ, "Read a conversation")
    def get_conversation(
        conversation_id: ConversationId,
        ctx: Context,
        offset: Annotated[int, Field(ge=0, description="Skip this many messages (for paging)")] = 0,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE, description="At most this many messages")] = 200,
    ) -> Transcript:
        """Read a stored conversation verbatim: its details and messages in order, one page at a time.

        message_count says how many messages exist; when offset + limit is below it, call again with
        offset += limit for the next page.
        """
        return service().get_conversation(conversation_id, namespace_of(ctx), offset, limit)

    @tool(READ, "List conversations")
    def list_conversations(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE, description="Page size")] = 50,
        cursor: Annotated[
            str | None, Field(max_length=200, description="next_cursor from the previous page; omit for the first")
        ] = None,
        source: Annotated[str | None, Field(max_length=100, description="Only this source, e.g. slack")] = None,
        query: Annotated[
            str | None, Field(max_length=200, description="Only conversations whose title or id contains this")
        ] = None,
    ) -> ConversationPage:
        """List stored conversations, newest first, without their messages (ids, titles, sources, dates, counts).

        Use to browse what is in memory; to find content, use search_conversations instead.
        """
        return service().list_conversations(namespace_of(ctx), limit, cursor, source, query)

    @tool(
        ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False),
        "Delete a conversation",
    )
    def delete_conversation(conversation_id: ConversationId, ctx: Context) -> DeletedConversation:
        """Permanently delete a conversation with all its messages from memory. Cannot be undone.

        Only call this when the user explicitly asks to forget a conversation.
        """
        return DeletedConversation(id=service().delete_conversation(conversation_id, namespace_of(ctx, "write")))

    @tool(
        ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False),
        "Import conversations from an export file",
    )
    def import_conversations(
        path: Annotated[
            str,
            Field(
                min_length=1,
                max_length=4096,
                description="File, folder or zip on the server, below one of its import roots "
                "(a relative path is taken from the first root)",
            ),
        ],
        ctx: Context,
        format: Annotated[
            str | None,
            Field(
                max_length=20,
                description="Force a format: slack, chatgpt, claude, whatsapp, markdown, transcript, json, openai. "
                "Omit to detect it from the content.",
            ),
        ] = None,
    ) -> ImportResult:
        """Import conversations from an export on the server's disk: a Slack export (zip or folder), a ChatGPT or
        Claude conversations.json, WhatsApp or other chat transcripts, or JSON / JSON Lines.

        Only paths below the server's configured import roots (MCP_RAG_IMPORT_ROOTS) can be read; others
        are refused. Safe to repeat: conversations already stored are skipped, new messages appended.
        Returns per-file counts and the records that could not be imported, with their locations.
        """
        return service().import_from_roots(path, namespace_of(ctx, "write"), format)

    # Open world: with a language model configured, the passages found go to its provider.
    @tool(
        ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=True),
        "Answer a question from past conversations",
    )
    def ask(
        question: Annotated[str, Field(min_length=1, max_length=4000, description="The question, in the user's words")],
        ctx: Context,
        top_k: Annotated[int, Field(ge=1, le=50, description="How many search hits to answer from")] = 8,
        conversation_id: Annotated[
            str | None, Field(max_length=MAX_ID_CHARS, description="Only use this conversation")
        ] = None,
        author: Annotated[str | None, Field(max_length=256, description="Only turns written by this author")] = None,
        source: Annotated[str | None, Field(max_length=100, description="Only conversations from this source")] = None,
        since: Annotated[datetime | None, Field(description="Only turns at or after this ISO 8601 time")] = None,
        until: Annotated[datetime | None, Field(description="Only turns at or before this ISO 8601 time")] = None,
    ) -> Answer:
        """Answer a question from the stored conversations, with numbered citations [n] pointing at messages.

        Searches memory, then answers only from what was found (with the configured language model,
        or extractively without one: `extractive` says which). When nothing relevant is stored the
        answer says so rather than guessing. Prefer search_conversations when you want the raw
        passages to reason over yourself.
        """
        req = AskRequest(
            question=question,
            top_k=top_k,
            conversation_id=conversation_id,
            author=author,
            source=source,
            since=since,
            until=until,
        )
        return service().ask(req, namespace_of(ctx))

    @server.resource(
        "conversation://{conversation_id}",
        name="conversation",
        title="Conversation transcript",
        description="A stored conversation as a plain-text transcript: one line per message with id, time and author.",
        mime_type="text/plain",
    )
    def conversation_resource(conversation_id: str, ctx: Context) -> str:
        try:
            return _transcript_text(service(), conversation_id, namespace_of(ctx))
        except NotFound as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        except McpRagError as exc:
            raise ResourceError(f"{exc.title}: {exc}") from exc

    return server


def _transcript_text(service: Service, conversation: str, namespace: str) -> str:
    """Every message of a conversation, paged through the service so long ones stay bounded in memory."""
    first = service.get_conversation(conversation, namespace, 0, MAX_PAGE)
    lines = [f"# {first.title or first.external_id}", f"id: {first.id}  messages: {first.message_count}", ""]
    page = first
    while True:
        for m in page.messages:
            when = m.timestamp.isoformat() if m.timestamp else ""
            who = m.author or m.role or "unknown"
            lines.append(f"[{m.id}] {when} {who}: {m.content}".replace("]  ", "] "))
        if len(page.messages) < MAX_PAGE:
            break
        page = service.get_conversation(conversation, namespace, page.offset + MAX_PAGE, MAX_PAGE)
    return "\n".join(lines) + "\n"


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
