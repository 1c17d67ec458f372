"""`found` on every door, and the relevance signal on search hits.

A question the stored conversations cannot answer gets the not-found sentence,
no citations and `found: false` over REST (JSON and stream), MCP and the CLI
(exit status 4); one they can answer gets `found: true`. Search hits carry a
calibrated `match`, and a search with no strong hit says `relevant: false`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from builders import make_conversation
from mcp import Client
from mcp_scenario import call
from test_providers import sse_events

from mcp_rag.models import SearchRequest
from mcp_rag.prompt import NOT_FOUND

MCP_RAG = str(Path(sys.executable).with_name("mcp-rag"))
ANSWERABLE = "Where did Kate go skiing?"
UNANSWERABLE = "What is the wifi password at the office?"


@pytest.fixture
def stored(service):
    service.ingest(make_conversation(id="ski-trip"))
    return service


def test_rest_json_says_found_or_not(client, stored):
    yes = client.post("/v1/ask", json={"question": ANSWERABLE}).json()
    assert yes["found"] is True and yes["citations"] and "Colorado" in yes["answer"]
    no = client.post("/v1/ask", json={"question": UNANSWERABLE}).json()
    assert no["found"] is False and no["answer"] == NOT_FOUND and no["citations"] == []
    assert no["sources"] and all(s["match"] == "weak" for s in no["sources"])


def test_rest_stream_ends_with_found_false_and_streams_only_the_not_found_sentence(client, stored):
    events = sse_events(client.post("/v1/ask", json={"question": UNANSWERABLE, "stream": True}))
    assert [k for k, _ in events] == ["sources", "token", "done"]
    assert events[1][1]["text"] == NOT_FOUND
    assert events[2][1]["found"] is False and events[2][1]["citations"] == []


def test_mcp_ask_and_search_say_when_nothing_relevant_is_stored(stored):
    from mcp_rag.mcp import build_server

    async def main() -> None:
        async with Client(build_server(lambda: stored, stored.settings)) as client:
            yes = await call(client, "ask", question=ANSWERABLE)
            assert yes["found"] is True and yes["citations"]
            no = await call(client, "ask", question=UNANSWERABLE)
            assert no["found"] is False and no["answer"] == NOT_FOUND and no["citations"] == []
            hits = await call(client, "search_conversations", query="skiing in Colorado")
            assert hits["relevant"] is True and hits["hits"][0]["match"] == "strong"
            nothing = await call(client, "search_conversations", query=UNANSWERABLE)
            assert nothing["relevant"] is False and {h["match"] for h in nothing["hits"]} == {"weak"}
            tools = {t.name: t.description for t in (await client.list_tools()).tools}
            assert "`found` is false" in tools["ask"] and "no relevant turns" in tools["search_conversations"]

    anyio.run(main)


def _cli(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(settings.data_dir), "MCP_RAG_ANSWER_PROVIDER": "extractive"}
    return subprocess.run([MCP_RAG, *args], env=env, capture_output=True, text=True, timeout=120)


def test_cli_exits_4_when_not_found_and_0_when_found(settings, stored):
    no = _cli(settings, "ask", UNANSWERABLE, "--json")
    assert no.returncode == 4, no.stderr
    assert json.loads(no.stdout)["found"] is False
    streamed = _cli(settings, "ask", UNANSWERABLE)
    assert streamed.returncode == 4 and NOT_FOUND in streamed.stdout and "not found" in streamed.stderr
    yes = _cli(settings, "ask", ANSWERABLE)
    assert yes.returncode == 0, yes.stderr
    assert "Colorado" in yes.stdout


def test_search_marks_an_on_topic_hit_strong_and_an_unrelated_query_weak(stored):
    on_topic = stored.search(SearchRequest(query="Kate skiing in Colorado"))
    assert on_topic.relevant and on_topic.hits[0].match == "strong" and on_topic.hits[0].relevance >= 0.5
    assert on_topic.hits[0].message_ids == ["m1"]
    unrelated = stored.search(SearchRequest(query="quarterly tax filing deadline for the bakery"))
    assert unrelated.hits, "search still returns the nearest turns"
    assert not unrelated.relevant and all(h.match == "weak" and h.relevance < 0.5 for h in unrelated.hits)
