"""The ask tool: a short cited answer from the stored conversations."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_rag.mcp.door import Tools, namespace_of
from mcp_rag.models import MAX_ID_CHARS, TIME_HELP, Answer, AskRequest


def add_asking(tool: Tools) -> None:
    service = tool.service

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
