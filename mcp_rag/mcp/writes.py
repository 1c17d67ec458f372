"""The tools that store and forget: ingest_conversation, append_messages, delete_conversation, remember."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_rag.mcp.door import ConversationId, Tools, namespace_of
from mcp_rag.mcp.progress import reporter
from mcp_rag.mcp.replies import DeletedConversation
from mcp_rag.models import MAX_ID_CHARS, ConversationIn, IngestResult, MessageIn, Remembered


def add_storing(tool: Tools) -> None:
    """ingest_conversation and append_messages: long ones in parts, each call within mcp_call_seconds."""
    service, deadline = tool.service, tool.deadline

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
        svc, report = service(), reporter(ctx)
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
        svc, report = service(), reporter(ctx)
        return svc.append_in_parts(
            conversation_id,
            messages,
            namespace_of(ctx, "write"),
            svc.settings.mcp_part_messages,
            deadline(),
            lambda done, total: report(done, total, f"{done} of {total} messages stored"),
        )


def add_editing(tool: Tools) -> None:
    """delete_conversation and remember."""
    service = tool.service

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
