"""What an assistant does with mcp-rag over MCP, written once and driven over
every transport (stdio subprocess, streamable HTTP on a real port) by the
SDK's own client."""

from __future__ import annotations

import pytest
from mcp import Client, MCPError

TOOLS = {
    "ingest_conversation",
    "append_messages",
    "search_conversations",
    "get_conversation",
    "list_conversations",
    "delete_conversation",
    "ask",
    "import_conversations",
}

SKI_TRIP = {
    "conversation_id": "ski-trip",
    "title": "Ski trip",
    "source": "slack",
    "messages": [
        {
            "id": "m1",
            "author": "Kate",
            "content": "I went skiing in Colorado last weekend.",
            "timestamp": "2024-01-02T10:00:00Z",
        },
        {"id": "m2", "author": "Emi", "content": "How was the snow up there?", "timestamp": "2024-01-02T10:01:00Z"},
        {
            "id": "m3",
            "author": "Kate",
            "content": "Fresh powder, and I finally tried a black run.",
            "timestamp": "2024-01-02T10:02:00Z",
        },
    ],
}


async def call(client: Client, tool: str, **arguments) -> dict:
    """Call a tool that must succeed; return its structured result."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


async def call_error(client: Client, tool: str, **arguments) -> str:
    """Call a tool that must fail as an MCP tool error; return the message the model reads."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


async def the_server_introduces_itself_with_annotated_tools(client: Client) -> None:
    assert client.server_info.name == "mcp-rag"
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert len(tool.description) > 80, f"{tool.name} needs a description a model can choose by"
        assert "\n    " not in tool.description, f"{tool.name}: docstring indentation leaks into the description"
        assert tool.output_schema is not None, f"{tool.name} returns structured output"
        assert tool.annotations is not None
    assert tools["search_conversations"].annotations.read_only_hint is True
    assert tools["ask"].annotations.read_only_hint is True
    assert tools["delete_conversation"].annotations.destructive_hint is True
    assert tools["ingest_conversation"].annotations.read_only_hint is False
    assert tools["ingest_conversation"].annotations.destructive_hint is False
    assert tools["ingest_conversation"].annotations.idempotent_hint is True
    top_k = tools["search_conversations"].input_schema["properties"]["top_k"]
    assert (top_k["minimum"], top_k["maximum"]) == (1, 100) and top_k["description"]
    templates = (await client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == ["conversation://{conversation_id}"]


async def an_assistant_stores_finds_reads_and_forgets_a_conversation(client: Client) -> None:
    stored = await call(client, "ingest_conversation", **SKI_TRIP)
    assert stored["created"] is True and stored["messages_added"] == 3
    again = await call(client, "ingest_conversation", **SKI_TRIP)
    assert again["created"] is False and again["messages_added"] == 0 and again["id"] == stored["id"]

    found = await call(client, "search_conversations", query="skiing in Colorado", top_k=3)
    top = found["hits"][0]
    assert top["conversation_id"] == stored["id"] and top["conversation_external_id"] == "ski-trip"
    assert "m1" in top["message_ids"]
    assert "Colorado" in top["text"]

    filtered = await call(client, "search_conversations", query="skiing", author="Nobody")
    assert filtered["hits"] == []

    page = await call(client, "get_conversation", conversation_id="ski-trip", offset=1, limit=1)
    assert page["message_count"] == 3
    assert [m["id"] for m in page["messages"]] == ["m2"]
    assert page["messages"][0]["content"] == "How was the snow up there?"

    appended = await call(
        client, "append_messages", conversation_id=stored["id"], messages=[{"id": "m4", "content": "Next: Utah."}]
    )
    assert appended["messages_added"] == 1 and appended["messages_total"] == 4

    listed = await call(client, "list_conversations")
    assert [c["external_id"] for c in listed["items"]] == ["ski-trip"]

    transcript = await client.read_resource("conversation://ski-trip")
    text = transcript.contents[0].text
    assert "[m1] 2024-01-02T10:00:00+00:00 Kate: I went skiing in Colorado last weekend." in text
    assert "[m4]" in text

    answer = await call(client, "ask", question="Where did Kate go skiing?")
    assert answer["citations"], answer
    cited = {m for c in answer["citations"] for m in c["message_ids"]}
    assert "m1" in cited
    assert answer["citations"][0]["conversation_external_id"] == "ski-trip"

    deleted = await call(client, "delete_conversation", conversation_id="ski-trip")
    assert deleted == {"id": stored["id"], "deleted": True}
    message = await call_error(client, "get_conversation", conversation_id="ski-trip")
    assert "not found" in message.lower()


async def mistakes_come_back_as_tool_errors_the_model_can_fix(client: Client) -> None:
    message = await call_error(client, "get_conversation", conversation_id="no-such-conversation")
    assert "Not found" in message and "no-such-conversation" in message
    message = await call_error(client, "delete_conversation", conversation_id="no-such-conversation")
    assert "not found" in message
    message = await call_error(client, "append_messages", conversation_id="nope", messages=[{"content": "hi"}])
    assert "not found" in message

    message = await call_error(client, "search_conversations", query="skiing", top_k=0)
    assert "top_k" in message and "greater than or equal to 1" in message
    message = await call_error(client, "search_conversations", top_k=3)
    assert "query" in message and "required" in message.lower()
    message = await call_error(client, "ingest_conversation", messages=[{"content": "   "}])
    assert "content is empty" in message
    deep: dict = {}
    for _ in range(25):
        deep = {"d": deep}
    message = await call_error(client, "ingest_conversation", messages=[{"content": "hi"}], metadata=deep)
    assert "Invalid input: metadata: Value error, metadata is nested deeper than 20 levels" in message
    message = await call_error(client, "ingest_conversation", messages=[])
    assert "messages" in message
    message = await call_error(client, "list_conversations", cursor="garbage!")
    assert "cursor is not valid" in message
    message = await call_error(client, "search_conversations", query="x", since="yesterday-ish")
    assert "since" in message

    with pytest.raises(MCPError, match="not found"):
        await client.read_resource("conversation://no-such-conversation")
    unknown = await client.call_tool("drop_database", {})
    assert unknown.is_error and "drop_database" in unknown.content[0].text

    # The server is still there after all of that.
    assert (await call(client, "list_conversations"))["items"] == []
