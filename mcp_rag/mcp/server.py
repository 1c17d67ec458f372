"""`build_server`: the MCP server with its instructions, tools and resources."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mcp.server.mcpserver import MCPServer

from mcp_rag import __version__
from mcp_rag.mcp.answers import add_asking
from mcp_rag.mcp.door import Tools
from mcp_rag.mcp.imports import add_importing
from mcp_rag.mcp.reads import add_reading
from mcp_rag.mcp.resources import add_resources
from mcp_rag.mcp.writes import add_editing, add_storing

if TYPE_CHECKING:
    from mcp_rag.config import Settings
    from mcp_rag.service import Service

INSTRUCTIONS = """\
Long-term memory of past conversations (chats, Slack threads, support tickets, assistant sessions).
Use search_conversations to find what was said, by whom and when; every hit names its conversation
and message ids, so quote and cite them, and get_conversation with around=<message id> reads the
turns around a hit. Use ask for a short cited answer, ingest_conversation to store a conversation,
remember to keep one note or fact. Filters take names loosely ("kate") and times in words
("last week"). Conversation ids are ours (uuid) or the id the conversation was stored with."""


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
    tool = Tools(server, service)
    # The order of registration is the order clients list the tools in.
    add_storing(tool)  # ingest_conversation, append_messages
    add_reading(tool)  # search_conversations, get_conversation, list_conversations
    add_editing(tool)  # delete_conversation, remember
    if settings.import_roots:
        add_importing(tool)  # import_conversations, import_status
    add_asking(tool)  # ask
    add_resources(server, service)
    return server
