"""Bad input through the doors: generated conversations and search filters over
REST, malformed MCP tool arguments, and Postgres-hostile strings. Every answer is
a success that stores exactly what was sent, or a clear 4xx / tool error; never
a 500, never half-written data; and the process keeps serving."""

from __future__ import annotations

import json

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from mcp_rag.mcp import build_server

CLIENT_ERRORS = {400, 404, 405, 409, 413, 422}
HOSTILE = ["\x00", "\ud800", "\udfff", "\u2028", "\ufeff", "'; DROP TABLE conversations; --", "\\", "%s", "$1", "é"]

# Text as attackers and broken exporters send it: NULs, lone surrogates, SQL-ish bits.
text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=20),
    st.sampled_from(HOSTILE),
    st.builds(lambda a, b: a + b, st.text(max_size=10), st.sampled_from(HOSTILE)),
)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)
json_value = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=12
)
maybe = lambda s: st.none() | s  # noqa: E731
message = st.fixed_dictionaries(
    {"content": st.one_of(text, json_value)},
    optional={
        "id": st.one_of(text, st.integers()),
        "author": maybe(text),
        "role": maybe(text),
        "timestamp": st.one_of(text, st.integers(), st.datetimes().map(lambda d: d.isoformat())),
        "metadata": json_value,
    },
)
conversation = st.fixed_dictionaries(
    {"messages": st.one_of(st.lists(message, max_size=4), json_value)},
    optional={
        "id": st.one_of(text, st.integers()),
        "title": maybe(text),
        "source": maybe(text),
        "metadata": json_value,
    },
)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def send(client, method: str, url: str, body) -> object:
    # ensure_ascii keeps lone surrogates as \\ud800 escapes: valid JSON text a client may send.
    raw = json.dumps(body, ensure_ascii=True).encode()
    return client.request(method, url, content=raw, headers={"content-type": "application/json"})


def assert_clear_answer(r) -> None:
    assert r.status_code < 500, f"{r.status_code}: {r.text[:300]}"
    if r.status_code >= 400:
        assert r.status_code in CLIENT_ERRORS, r.status_code
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["detail"] and "Traceback" not in problem["detail"] and "psycopg" not in problem["detail"]


@FAST
@given(body=conversation)
def test_generated_conversations_are_stored_verbatim_or_refused_with_a_4xx(client, body):
    r = send(client, "POST", "/v1/conversations", body)
    assert_clear_answer(r)
    if r.status_code in (200, 201):
        stored = client.get(f"/v1/conversations/{r.json()['id']}").json()
        sent = [m["content"] for m in body["messages"]]
        got = [m["content"] for m in stored["messages"]]
        assert got[: len(sent)] == sent[: len(got)], "messages are stored exactly as sent"


filters = st.fixed_dictionaries(
    {"query": st.one_of(text, json_value)},
    optional={
        k: st.one_of(text, json_value)
        for k in ("conversation_id", "author", "role", "source", "since", "until", "metadata", "top_k")
    },
)


@FAST
@given(body=filters)
def test_generated_search_filters_give_results_or_a_4xx(client, body):
    r = send(client, "POST", "/v1/search", body)
    assert_clear_answer(r)
    if r.status_code == 200:
        assert isinstance(r.json()["hits"], list)


@pytest.mark.parametrize(
    "field",
    ["content", "author", "id", "title", "metadata_key", "metadata_value"],
)
@pytest.mark.parametrize("hostile", ["\x00", "\ud800", "a\x00b", "\udc80tail"])
def test_nul_bytes_and_lone_surrogates_are_refused_with_422_in_every_field(client, field, hostile):
    msg = {"content": "fine"}
    conv = {"id": "hostile", "messages": [msg]}
    if field == "content":
        msg["content"] = hostile
    elif field in ("author", "id"):
        msg[field] = hostile
    elif field == "title":
        conv["title"] = hostile
    elif field == "metadata_key":
        conv["metadata"] = {hostile: 1}
    else:
        msg["metadata"] = {"k": [hostile]}
    r = send(client, "POST", "/v1/conversations", conv)
    assert r.status_code == 422, r.text
    assert client.get("/v1/conversations/hostile").status_code == 404, "nothing half-written"


def test_a_10_mb_message_is_refused_with_a_4xx_and_the_server_keeps_serving(client):
    r = client.post("/v1/conversations", json={"id": "huge", "messages": [{"content": "x" * 10_000_000}]})
    assert r.status_code == 422 and "at most 200000 characters" in r.text, r.text[:300]
    r = client.post("/v1/conversations", json={"id": "huge", "messages": [{"content": "x" * 30_000_000}]})
    assert r.status_code == 413, r.status_code  # over the body limit: refused before parsing
    assert client.get("/v1/conversations/huge").status_code == 404
    ok = client.post("/v1/conversations", json={"id": "small", "messages": [{"content": "still here"}]})
    assert ok.status_code == 201


def test_deeply_nested_metadata_is_422_not_a_crash(client):
    # 5,000 levels of nesting: deeper than Python's recursion limit in a naive walker.
    raw = '{"id": "deep", "messages": [{"content": "hi"}], "metadata": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"
    r = client.post("/v1/conversations", content=raw, headers={"content-type": "application/json"})
    assert_clear_answer(r)
    assert r.status_code in (400, 422)
    nested = {"d": 1}
    for _ in range(30):
        nested = {"d": nested}
    r = client.post("/v1/conversations", json={"id": "deep", "metadata": nested, "messages": [{"content": "hi"}]})
    assert r.status_code == 422 and "nested deeper" in r.text
    assert client.get("/v1/conversations/deep").status_code == 404


def test_hostile_references_in_paths_and_queries_are_4xx(client):
    for ref in ["%00", "%ED%A0%80", "x" * 600, "..%2F..%2Fetc%2Fpasswd", "%27%3B--"]:
        for r in (client.get(f"/v1/conversations/{ref}"), client.delete(f"/v1/conversations/{ref}")):
            assert_clear_answer(r)
            assert r.status_code >= 400
    r = client.get("/v1/conversations", params={"cursor": "\x00garbage", "q": "\x00"})
    assert_clear_answer(r)


MALFORMED_TOOL_CALLS = [
    ("ingest_conversation", {}),
    ("ingest_conversation", {"messages": "not a list"}),
    ("ingest_conversation", {"messages": [{"content": "\x00"}]}),
    ("ingest_conversation", {"messages": [{"content": "ok"}], "conversation_id": "\ud800"}),
    ("ingest_conversation", {"messages": [{"content": "ok"}], "metadata": [1, 2]}),
    ("ingest_conversation", {"messages": [{"content": "x" * 200_001}]}),
    ("append_messages", {"conversation_id": "nope", "messages": [{"content": "hi"}]}),
    ("search_conversations", {"query": ""}),
    ("search_conversations", {"query": "x", "top_k": -1}),
    ("search_conversations", {"query": "x", "since": "yesterday-ish"}),
    ("search_conversations", {"query": "x\x00"}),
    ("search_conversations", {"query": "x", "conversation_id": "missing"}),
    ("get_conversation", {"conversation_id": "\x00"}),
    ("get_conversation", {"conversation_id": "missing", "limit": 0}),
    ("list_conversations", {"limit": 10**9}),
    ("delete_conversation", {"conversation_id": 12345678901234567890}),
    ("ask", {"question": ""}),
    ("ask", {"question": "why?", "top_k": 0}),
]


def test_malformed_mcp_tool_arguments_are_tool_errors_and_the_server_keeps_serving(service):
    async def scenario() -> None:
        async with Client(build_server(lambda: service, service.settings)) as mcp:
            for tool, arguments in MALFORMED_TOOL_CALLS:
                result = await mcp.call_tool(tool, arguments)
                assert result.is_error, (tool, arguments, result.structured_content)
                message = result.content[0].text
                assert message and "Traceback" not in message and "psycopg" not in message, message
            alive = {"messages": [{"content": "alive"}], "conversation_id": "k"}
            ok = await mcp.call_tool("ingest_conversation", alive)
            assert not ok.is_error, ok.content

    anyio.run(scenario)
    assert service.get_conversation("k").message_count == 1
