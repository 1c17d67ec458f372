"""The tools that read memory: search_conversations, get_conversation, list_conversations."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from mcp_rag.mcp.door import READ, ConversationId, Tools, namespace_of
from mcp_rag.mcp.replies import CompactSearch, compact_json
from mcp_rag.models import (
    AROUND_AFTER,
    AROUND_BEFORE,
    MAX_ID_CHARS,
    MAX_PAGE,
    TIME_HELP,
    ConversationPage,
    SearchRequest,
    Transcript,
)


def add_reading(tool: Tools) -> None:
    service = tool.service

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
        return compact_json(CompactSearch.of(service().search(req, namespace_of(ctx)), detail))

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
