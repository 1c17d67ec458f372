"""What an assistant does with mcp-rag over MCP, written once and driven over
every transport (stdio subprocess, streamable HTTP on a real port) by the
SDK's own client."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from mcp import Client, MCPError

# Without import folders configured (as in these tests) the import tools are not listed.
TOOLS = {
    "ingest_conversation",
    "append_messages",
    "search_conversations",
    "get_conversation",
    "list_conversations",
    "delete_conversation",
    "ask",
    "remember",
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
    assert sorted(t.uri_template for t in templates) == [
        "conversation://{conversation_id}",
        "conversation://{conversation_id}/from/{offset}",
    ]


async def an_assistant_stores_finds_reads_and_forgets_a_conversation(client: Client) -> None:
    stored = await call(client, "ingest_conversation", **SKI_TRIP)
    assert stored["created"] is True and stored["messages_added"] == 3
    again = await call(client, "ingest_conversation", **SKI_TRIP)
    assert again["created"] is False and again["messages_added"] == 0 and again["id"] == stored["id"]

    found = await call(client, "search_conversations", query="skiing in Colorado", top_k=3)
    top = found["hits"][0]
    assert top["conversation_id"] == stored["id"]
    assert found["conversations"][stored["id"]]["external_id"] == "ski-trip"
    assert "m1" in top["message_ids"]
    assert "Colorado" in top["text"]

    filtered = await call(client, "search_conversations", query="skiing", author="kate", detail=True)
    assert filtered["hits"] and all(h["authors"] == ["Kate"] for h in filtered["hits"])

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


def long_chat(n: int, start: datetime | None = None) -> list[dict]:
    """`n` turns by three people (one named with an accent, one by a lower-case handle), a minute apart."""
    start = start or datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
    people = ["Kate Moreno", "elise", "Zoë Martin"]
    return [
        {
            "id": f"m{i}",
            "author": people[i % 3],
            "content": f"Note {i}: "
            + ("the lighthouse keeper's lantern is brass" if i == 25 else f"item {i} on the list"),
            "timestamp": (start + timedelta(minutes=i)).isoformat(),
        }
        for i in range(1, n + 1)
    ]


async def an_assistant_reads_the_turns_around_a_hit(client: Client) -> None:
    stored = await call(client, "ingest_conversation", conversation_id="long", title="Long", messages=long_chat(40))
    found = await call(client, "search_conversations", query="lighthouse keeper brass lantern", top_k=3)
    top = found["hits"][0]
    assert "m25" in top["message_ids"]
    assert top["first_seq"] <= 25 <= top["last_seq"]
    assert found["conversations"][stored["id"]]["message_count"] == 40

    around = await call(client, "get_conversation", conversation_id="long", around="m25")
    assert [m["id"] for m in around["messages"]] == [f"m{i}" for i in range(15, 36)]
    assert around["around"] == "m25" and around["offset"] == 14 and around["message_count"] == 40
    narrow = await call(client, "get_conversation", conversation_id=stored["id"], around="m25", before=2, after=1)
    assert [m["seq"] for m in narrow["messages"]] == [23, 24, 25, 26]
    edge = await call(client, "get_conversation", conversation_id="long", around="m2", before=5, after=0)
    assert [m["id"] for m in edge["messages"]] == ["m1", "m2"]
    message = await call_error(client, "get_conversation", conversation_id="long", around="m99")
    assert "m99" in message and "not found" in message

    page = (await client.read_resource("conversation://long")).contents[0].text
    assert "messages 1-40 of 40" in page and "[m40]" in page and "(more:" not in page


async def author_and_source_filters_forgive_case_accents_and_handles(client: Client) -> None:
    await call(client, "ingest_conversation", conversation_id="team", source="Slack", messages=long_chat(30))
    for wanted, stored in (
        ("kate", "Kate Moreno"),
        ("ELISE", "elise"),
        ("zoe", "Zoë Martin"),
        ("martin", "Zoë Martin"),
    ):
        found = await call(client, "search_conversations", query="item on the list", author=wanted, detail=True)
        assert found["hits"], wanted
        assert all(stored in h["authors"] for h in found["hits"]), (wanted, found["hits"])
        assert found["filters"]["authors"] == [stored]
    found = await call(client, "search_conversations", query="item", source="slack")
    assert found["hits"] and found["filters"]["source"] == "Slack"
    listed = await call(client, "list_conversations", author="kate")
    assert "team" in [c["external_id"] for c in listed["items"]]
    assert all("Kate Moreno" in c["participants"] for c in listed["items"])

    message = await call_error(client, "search_conversations", query="item", author="Katie")
    assert "no participant matches 'Katie'" in message and "Kate Moreno" in message
    message = await call_error(client, "ask", question="what is on the list?", author="Kat")
    assert "Kate Moreno" in message
    message = await call_error(client, "search_conversations", query="item", source="slak")
    assert "no source matches 'slak'" in message and "Slack" in message
    message = await call_error(client, "list_conversations", author="nobody at all")
    assert "no participant matches" in message


async def times_in_words_are_resolved_and_echoed(client: Client) -> None:
    now = datetime.now(UTC)
    yesterday = (now - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    messages = [
        {"id": "old", "author": "Kate", "content": "The budget review happened.", "timestamp": "2024-03-15T10:00:00Z"},
        {"id": "older", "author": "Kate", "content": "The budget draft started.", "timestamp": "2024-02-10T10:00:00Z"},
        {"id": "new", "author": "Kate", "content": "The budget was approved.", "timestamp": yesterday.isoformat()},
    ]
    await call(client, "ingest_conversation", conversation_id="budget", messages=messages)

    recent = await call(
        client, "search_conversations", query="budget", conversation_id="budget", since="yesterday", detail=True
    )
    assert [h["message_ids"] for h in recent["hits"]] == [["new"]]
    since = datetime.fromisoformat(recent["filters"]["since"])
    assert since == (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert recent["filters"]["timezone"] == "UTC" and recent["filters"]["now"]

    march = await call(
        client,
        "search_conversations",
        query="budget",
        conversation_id="budget",
        since="in March 2024",
        until="March 2024",
    )
    assert [h["message_ids"] for h in march["hits"]] == [["old"]]
    assert march["filters"]["since"].startswith("2024-03-01T00:00:00")
    assert march["filters"]["until"].startswith("2024-03-31T23:59:59")
    tokyo = await call(client, "search_conversations", query="budget", since="in March 2024", timezone="Asia/Tokyo")
    assert tokyo["filters"]["since"].startswith("2024-02-29T15:00:00")
    answer = await call(client, "ask", question="What happened to the budget?", since="2 days ago")
    assert {m for c in answer["citations"] for m in c["message_ids"]} == {"new"}
    assert answer["filters"]["since"]

    message = await call_error(client, "search_conversations", query="budget", since="when pigs fly")
    assert "since" in message and "could not read" in message
    message = await call_error(client, "search_conversations", query="budget", since="today", timezone="Mars/Base")
    assert "time zone" in message


async def a_large_ingest_reports_progress(client: Client) -> None:
    """Run against a server that stores 20 messages per part (MCP_RAG_MCP_PART_MESSAGES)."""
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    result = await client.call_tool(
        "ingest_conversation",
        {"conversation_id": "big", "messages": long_chat(60)},
        progress_callback=progress,
    )
    assert not result.is_error, result.content
    assert result.structured_content["messages_added"] == 60 and result.structured_content["complete"] is True
    assert len(seen) >= 2, seen
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)
    assert seen[-1][:2] == (60, 60) and "60 of 60" in seen[-1][2]

    seen.clear()
    appended = await client.call_tool(
        "append_messages",
        {"conversation_id": "big", "messages": long_chat(70)[60:]},
        progress_callback=progress,
    )
    assert appended.structured_content["messages_total"] == 70 and seen[-1][:2] == (10, 10)


async def a_call_stops_in_time_and_the_next_one_resumes(client: Client) -> None:
    """Run against a server whose call budget is tiny and whose parts are 20 messages."""
    messages = long_chat(50)
    first = await call(client, "ingest_conversation", conversation_id="resumable", messages=messages)
    assert first["complete"] is False and first["next_index"] == 20 and first["messages_total"] == 20
    calls = 1
    result = first
    while not result["complete"]:
        result = await call(client, "ingest_conversation", conversation_id="resumable", messages=messages)
        calls += 1
    assert calls == 3 and result["messages_total"] == 50
    page = await call(client, "get_conversation", conversation_id="resumable", offset=0, limit=200)
    assert [m["id"] for m in page["messages"]] == [f"m{i}" for i in range(1, 51)]

    tail = long_chat(80)[50:]
    appended = await call(client, "append_messages", conversation_id="resumable", messages=tail)
    assert appended["complete"] is False and appended["next_index"] == 20
    rest = await call(client, "append_messages", conversation_id="resumable", messages=tail[20:])
    assert rest["complete"] is True and rest["messages_total"] == 80


async def search_replies_are_compact_unless_detail_is_asked(client: Client) -> None:
    await call(
        client, "ingest_conversation", conversation_id="compact", title="Long", source="slack", messages=long_chat(60)
    )
    compact = await client.call_tool(
        "search_conversations", {"query": "item on the list", "top_k": 10, "conversation_id": "compact"}
    )
    detail = await client.call_tool(
        "search_conversations", {"query": "item on the list", "top_k": 10, "conversation_id": "compact", "detail": True}
    )
    compact_text, detail_text = compact.content[0].text, detail.content[0].text
    assert json.loads(compact_text) == compact.structured_content
    hits = compact.structured_content["hits"]
    assert len(hits) == 10 and set(hits[0]) == {
        "conversation_id",
        "message_ids",
        "first_seq",
        "last_seq",
        "text",
        "score",
        "match",
    }
    assert compact.structured_content["relevant"] in (True, False)
    assert list(compact.structured_content["conversations"].values())[0]["title"] == "Long"
    assert {"title", "authors", "conversation_external_id"} <= set(detail.structured_content["hits"][0])
    assert len(compact_text) < 0.6 * len(detail_text), (len(compact_text), len(detail_text))


async def a_note_is_remembered_and_found(client: Client) -> None:
    kept = await call(client, "remember", note="Kate is vegetarian and allergic to walnuts.", author="Emi")
    assert kept["conversation_external_id"] == "notes" and kept["author"] == "Emi"
    assert abs(datetime.fromisoformat(kept["timestamp"]) - datetime.now(UTC)) < timedelta(minutes=5)
    second = await call(client, "remember", note="The team offsite is in Lisbon in May.")
    assert second["conversation_id"] == kept["conversation_id"] and second["message_id"] != kept["message_id"]
    assert second["author"] == "local"

    found = await call(client, "search_conversations", query="walnut allergy", top_k=3)
    top = found["hits"][0]
    assert kept["message_id"] in top["message_ids"] and "Emi" in top["text"]
    assert found["conversations"][kept["conversation_id"]]["title"] == "Notes"
    message = await call_error(client, "remember", note="   ")
    assert "empty" in message
