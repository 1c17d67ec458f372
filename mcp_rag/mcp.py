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
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from uuid import UUID

import anyio.from_thread
import pydantic_core
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_rag import __version__, validation
from mcp_rag.errors import McpRagError, NotFound
from mcp_rag.importers.report import ImportResult
from mcp_rag.models import (
    AROUND_AFTER,
    AROUND_BEFORE,
    MAX_ID_CHARS,
    MAX_PAGE,
    TIME_HELP,
    Answer,
    AppliedFilters,
    AskRequest,
    ConversationIn,
    ConversationPage,
    IngestResult,
    MessageIn,
    Remembered,
    SearchRequest,
    SearchResult,
    Transcript,
)

if TYPE_CHECKING:
    from mcp_rag import jobs
    from mcp_rag.config import Settings
    from mcp_rag.service import Service

INSTRUCTIONS = """\
Long-term memory of past conversations (chats, Slack threads, support tickets, assistant sessions).
Use search_conversations to find what was said, by whom and when; every hit names its conversation
and message ids, so quote and cite them, and get_conversation with around=<message id> reads the
turns around a hit. Use ask for a short cited answer, ingest_conversation to store a conversation,
remember to keep one note or fact. Filters take names loosely ("kate") and times in words
("last week"). Conversation ids are ours (uuid) or the id the conversation was stored with."""

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


class ConversationRef(BaseModel):
    external_id: str
    title: str | None = None
    source: str | None = None
    message_count: int


class CompactHit(BaseModel):
    conversation_id: UUID = Field(description="Key into `conversations`")
    message_ids: list[str]
    first_seq: int = Field(description="Position of its first message in the conversation (1-based)")
    last_seq: int
    text: str = Field(description="The turns, one per line: author (date): text")
    score: float
    match: Literal["strong", "weak"] = Field(description="strong: likely on topic; weak: only the nearest there is")
    # With detail=true only: what `conversations` and the text already say, repeated on the hit.
    conversation_external_id: str | None = None
    title: str | None = None
    source: str | None = None
    authors: list[str] | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


DETAIL_FIELDS = {"conversation_external_id", "title", "source", "authors", "started_at", "ended_at"}


class CompactSearch(BaseModel):
    """A search reply with each conversation's fields once (in `conversations`) instead of on every hit."""

    query: str
    hits: list[CompactHit]
    conversations: dict[str, ConversationRef] = Field(description="The hits' conversations, by our id")
    filters: AppliedFilters | None = None
    relevant: bool = Field(description="False when no hit is a strong match: nothing stored is close to the query")

    @classmethod
    def of(cls, result: SearchResult, detail: bool = False) -> CompactSearch:
        convs = {
            str(h.conversation_id): ConversationRef(
                external_id=h.conversation_external_id, title=h.title, source=h.source, message_count=h.message_count
            )
            for h in result.hits
        }
        hits = [
            CompactHit(
                conversation_id=h.conversation_id,
                message_ids=h.message_ids,
                first_seq=h.first_seq,
                last_seq=h.last_seq,
                text=h.text,
                score=round(h.score, 4),
                match=h.match,
                **(h.model_dump(include=DETAIL_FIELDS) if detail else {}),
            )
            for h in result.hits
        ]
        return cls(query=result.query, hits=hits, conversations=convs, filters=result.filters, relevant=result.relevant)


class ImportProgress(BaseModel):
    conversations: int = Field(description="Conversations created so far")
    messages: int = Field(description="Messages stored so far")
    bytes_done: int
    bytes_total: int
    seconds: float
    messages_per_second: float


class ImportRun(BaseModel):
    """An import: its result when it finished within this call, else its id and progress so far."""

    complete: bool
    job_id: str = Field(description="Pass to import_status to wait for the rest")
    progress: ImportProgress | None = None
    result: ImportResult | None = None


def _compact_json(model: BaseModel) -> CallToolResult:
    """A tool result whose text is the structured content as compact JSON (the SDK's default indents it)."""
    data = model.model_dump(mode="json", exclude_none=True)
    text = pydantic_core.to_json(data).decode()
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _reporter(ctx: Context, every: float = 0.5) -> Callable[[float, float | None, str | None], None]:
    """Progress notifications from a tool's worker thread (the SDK runs plain-def tools on
    one); a no-op unless the client sent a progress token. At most one per `every` seconds,
    and always the last one (done == total)."""
    last = [0.0]

    def report(done: float, total: float | None, message: str | None = None) -> None:
        now = time.monotonic()
        if now - last[0] < every and done != total:
            return
        last[0] = now
        try:
            anyio.from_thread.run(ctx.report_progress, done, total, message)
        except Exception:  # a client gone mid-call must not fail the work itself
            pass

    return report


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


def build_server(service: Callable[[], Service], settings: Settings) -> MCPServer:
    """An MCP server whose tools call the service `service()` returns. Cheap: nothing is started here.

    `settings` decides which tools are listed: import_conversations only where import
    folders are configured (elsewhere it could only refuse)."""
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

    def deadline() -> float:
        return time.monotonic() + service().settings.mcp_call_seconds

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
        exactly as given and indexed for search (about 10-20 messages a second), with progress
        notifications when you send a progress token. Safe to repeat: sending the same
        conversation_id again stores only messages not seen before. A long conversation may come
        back with complete=false (one call stays under a minute): call again with exactly the same
        arguments to store the rest. Returns our id for the conversation and counts.
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
        svc, report = service(), _reporter(ctx)
        return svc.ingest_in_parts(
            conv,
            namespace_of(ctx, "write"),
            svc.settings.mcp_part_messages,
            deadline(),
            lambda done, total: report(done, total, f"{done} of {total} messages stored"),
        )

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
        Fails if the conversation does not exist (use ingest_conversation to create it). Sends
        progress notifications when you send a progress token. A long list may come back with
        complete=false (one call stays under a minute): then send messages[next_index:] again.
        """
        svc, report = service(), _reporter(ctx)
        return svc.append_in_parts(
            conversation_id,
            messages,
            namespace_of(ctx, "write"),
            svc.settings.mcp_part_messages,
            deadline(),
            lambda done, total: report(done, total, f"{done} of {total} messages stored"),
        )

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
        author: Annotated[
            str | None,
            Field(max_length=256, description="Only turns by this person; 'kate' finds 'Kate Moreno', case ignored"),
        ] = None,
        source: Annotated[
            str | None, Field(max_length=100, description="Only conversations from this source, e.g. slack")
        ] = None,
        since: Annotated[str | None, Field(max_length=100, description="Only turns at or after: " + TIME_HELP)] = None,
        until: Annotated[str | None, Field(max_length=100, description="Only turns at or before: " + TIME_HELP)] = None,
        timezone: Annotated[
            str | None, Field(max_length=64, description="IANA time zone for times in words, e.g. Europe/Paris (UTC)")
        ] = None,
        detail: Annotated[
            bool, Field(description="Repeat the conversation's fields, authors and dates on every hit")
        ] = False,
    ) -> Annotated[CallToolResult, CompactSearch]:
        """Search everything stored in memory for turns relevant to a query (hybrid keyword + semantic search).

        Use this first when the user refers to something discussed before ("what did Kate say about
        the trip?", "when did we decide X?"). Each hit carries the passage with speakers and dates,
        its conversation id (details once in `conversations`), the ids and positions (first_seq,
        last_seq) of the messages it covers: cite those, and call get_conversation with
        around=<a message id> to read the turns around it. Narrow with the optional filters; an
        author or source that matches nothing is an error naming the closest ones.

        Each hit has `match`: "strong" when it is likely on topic, "weak" when it is only the nearest
        there is. When no hit is strong, `relevant` is false: tell the user no relevant turns are
        stored rather than presenting the weak hits as what was said about it.
        """
        req = SearchRequest(
            query=query,
            top_k=top_k,
            conversation_id=conversation_id,
            author=author,
            source=source,
            since=since,
            until=until,
            timezone=timezone,
        )
        return _compact_json(CompactSearch.of(service().search(req, namespace_of(ctx)), detail))

    @tool(READ, "Read a conversation")
    def get_conversation(
        conversation_id: ConversationId,
        ctx: Context,
        around: Annotated[
            str | None,
            Field(
                max_length=MAX_ID_CHARS,
                description="A message id (e.g. from a search hit): read the turns around it instead of from offset",
            ),
        ] = None,
        before: Annotated[
            int, Field(ge=0, le=MAX_PAGE - 1, description="With around: how many messages before it")
        ] = AROUND_BEFORE,
        after: Annotated[
            int, Field(ge=0, le=MAX_PAGE - 1, description="With around: how many messages after it")
        ] = AROUND_AFTER,
        offset: Annotated[int, Field(ge=0, description="Skip this many messages (for paging)")] = 0,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE, description="At most this many messages")] = 50,
    ) -> Transcript:
        """Read a stored conversation verbatim: its details and messages in order, one page at a time.

        After a search, pass around=<message id> to read that message with the turns before and
        after it. Otherwise pages go by offset: message_count says how many messages exist; when
        offset + the messages returned is below it, call again with offset += limit.
        """
        return service().get_conversation(
            conversation_id, namespace_of(ctx), offset, limit, around=around, before=before, after=after
        )

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
        author: Annotated[
            str | None, Field(max_length=256, description="Only conversations this person took part in ('kate')")
        ] = None,
    ) -> ConversationPage:
        """List stored conversations, newest first, without their messages (ids, titles, sources, dates, counts).

        Use to browse what is in memory; to find content, use search_conversations instead.
        """
        return service().list_conversations(namespace_of(ctx), limit, cursor, source, query, author)

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
        ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False),
        "Remember a note",
    )
    def remember(
        note: Annotated[
            str, Field(min_length=1, max_length=20_000, description="The fact or note, in a sentence or a few")
        ],
        ctx: Context,
        author: Annotated[
            str | None, Field(max_length=256, description="Who said or asked for it (default: the caller)")
        ] = None,
    ) -> Remembered:
        """Keep one note or fact in long-term memory ("Kate is vegetarian", "the launch moved to May").

        Use when the user asks you to remember something that is not part of a conversation you
        would store whole. It is stored with its author and the time, in this memory's notes
        conversation, and found by search_conversations and ask like any other turn.
        """
        return service().remember(note, namespace_of(ctx, "write"), author)

    if settings.import_roots:
        _import_tools(server, tool, service)

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
        author: Annotated[
            str | None, Field(max_length=256, description="Only turns by this person ('kate'), case ignored")
        ] = None,
        source: Annotated[str | None, Field(max_length=100, description="Only conversations from this source")] = None,
        since: Annotated[str | None, Field(max_length=100, description="Only turns at or after: " + TIME_HELP)] = None,
        until: Annotated[str | None, Field(max_length=100, description="Only turns at or before: " + TIME_HELP)] = None,
        timezone: Annotated[
            str | None, Field(max_length=64, description="IANA time zone for times in words (default UTC)")
        ] = None,
    ) -> Answer:
        """Answer a question from the stored conversations, with numbered citations [n] pointing at messages.

        Searches memory, then answers only from what was found (with the configured language model,
        or extractively without one: `extractive` says which). When nothing relevant is stored,
        `found` is false, `answer` is "Not found in the conversations.", `citations` is empty and
        `sources` lists only the nearest (weak) turns: tell the user it is not in memory, do not
        answer from those turns. Prefer search_conversations when you want the raw passages to
        reason over yourself.
        """
        req = AskRequest(
            question=question,
            top_k=top_k,
            conversation_id=conversation_id,
            author=author,
            source=source,
            since=since,
            until=until,
            timezone=timezone,
        )
        return service().ask(req, namespace_of(ctx))

    @server.resource(
        "conversation://{conversation_id}",
        name="conversation",
        title="Conversation transcript",
        description="A stored conversation as a plain-text transcript, one line per message with id, time and "
        f"author; long ones in pages of up to {RESOURCE_PAGE} messages, the last line naming the next page.",
        mime_type="text/plain",
    )
    def conversation_resource(conversation_id: str, ctx: Context) -> str:
        return _resource(service, conversation_id, 0, ctx)

    @server.resource(
        "conversation://{conversation_id}/from/{offset}",
        name="conversation-page",
        title="Conversation transcript, from a message on",
        description="A page of a conversation's transcript starting after `offset` messages.",
        mime_type="text/plain",
    )
    def conversation_page_resource(conversation_id: str, offset: str, ctx: Context) -> str:
        if not offset.isdigit():
            raise ResourceError(f"offset must be a number of messages, not {offset!r}")
        return _resource(service, conversation_id, int(offset), ctx)

    return server


def _import_tools(server: MCPServer, tool: Callable, service: Callable[[], Service]) -> None:
    """The import tools: an import runs as a job, each call waiting for it at most mcp_call_seconds."""
    from mcp_rag import jobs

    def wait(job: jobs.Job, ctx: Context) -> ImportRun:
        report = _reporter(ctx)
        until = time.monotonic() + service().settings.mcp_call_seconds
        while not job.wait(min(0.5, until - time.monotonic())) and time.monotonic() < until:
            progress = _import_progress(job)
            if progress is not None:
                report(progress.bytes_done, progress.bytes_total or None, _progress_line(progress))
        if job.finished.is_set():
            if job.error is not None:
                raise job.error
            progress = _import_progress(job)
            if progress is not None:  # the last count, also for an import shorter than one poll
                report(
                    progress.bytes_total or progress.bytes_done, progress.bytes_total or None, _progress_line(progress)
                )
            return ImportRun(complete=True, job_id=job.id, progress=progress, result=job.result)
        return ImportRun(complete=False, job_id=job.id, progress=_import_progress(job))

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
    ) -> ImportRun:
        """Import conversations from an export on the server's disk: a Slack export (zip or folder), a ChatGPT or
        Claude conversations.json, WhatsApp or other chat transcripts, or JSON / JSON Lines.

        Only paths below the server's configured import roots can be read; others are refused. Sends
        progress notifications when you send a progress token. One call waits at most about 40 s:
        a larger export comes back with complete=false and a job_id; call import_status with it
        until complete. Safe to repeat: conversations already stored are skipped, new messages
        appended. The result has per-file counts and the records that could not be imported.
        """
        namespace = namespace_of(ctx, "write")
        svc = service()
        svc.check_import_path(path)
        job = jobs.start(namespace, lambda report: svc.import_from_roots(path, namespace, format, progress=report))
        return wait(job, ctx)

    @tool(READ, "Check an import")
    def import_status(
        job_id: Annotated[str, Field(min_length=1, max_length=64, description="job_id from import_conversations")],
        ctx: Context,
    ) -> ImportRun:
        """Wait for an import started by import_conversations (at most about 40 s per call) and return its
        progress, or its result once complete. Imports live in the server's memory: after a restart, run
        import_conversations again (it skips what is stored)."""
        job = jobs.get(job_id, namespace_of(ctx, "write"))
        if job is None:
            raise NotFound(f"no import {job_id!r} in this server; start it again with import_conversations")
        return wait(job, ctx)


def _import_progress(job: jobs.Job) -> ImportProgress | None:
    state = job.progress
    if state is None:
        return None
    seconds = time.monotonic() - state.started
    return ImportProgress(
        conversations=state.conversations,
        messages=state.messages,
        bytes_done=state.bytes_done,
        bytes_total=state.bytes_total,
        seconds=round(seconds, 1),
        messages_per_second=round(state.messages / seconds, 1) if seconds > 0 else 0.0,
    )


def _progress_line(p: ImportProgress) -> str:
    return f"{p.conversations} conversations, {p.messages} messages ({p.messages_per_second}/s)"


# Messages per page of the conversation resource: a long chat read at once was >100k characters.
RESOURCE_PAGE = 100


def _resource(service: Callable[[], Service], conversation_id: str, offset: int, ctx: Context) -> str:
    try:
        return _transcript_text(service(), conversation_id, namespace_of(ctx), offset)
    except NotFound as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    except McpRagError as exc:
        raise ResourceError(f"{exc.title}: {exc}") from exc


def _transcript_text(service: Service, conversation: str, namespace: str, offset: int = 0) -> str:
    """A page of a conversation as text: a header, one line per message, and where the next page is."""
    page = service.get_conversation(conversation, namespace, offset, RESOURCE_PAGE)
    shown = f"messages {offset + 1}-{offset + len(page.messages)} of {page.message_count}"
    lines = [f"# {page.title or page.external_id}", f"id: {page.id}  {shown}", ""]
    for m in page.messages:
        when = m.timestamp.isoformat() if m.timestamp else ""
        who = m.author or m.role or "unknown"
        lines.append(f"[{m.id}] {when} {who}: {m.content}".replace("]  ", "] "))
    following = offset + len(page.messages)
    if following < page.message_count:
        lines += ["", f"(more: conversation://{page.external_id}/from/{following})"]
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
