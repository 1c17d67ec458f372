"""Conversations as resources: plain-text transcripts, in pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from mcp_rag.errors import McpRagError, NotFound
from mcp_rag.mcp.door import namespace_of

if TYPE_CHECKING:
    from mcp_rag.service import Service

# Messages per page of the conversation resource: a long chat read at once was >100k characters.
RESOURCE_PAGE = 100


def add_resources(server: MCPServer, service: Callable[[], Service]) -> None:
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
