"""MCP over streamable HTTP at /mcp, served by a real `mcp-rag serve` on a
loopback port, next to REST and sharing its service."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest
from mcp import Client
from mcp_scenario import (
    a_call_stops_in_time_and_the_next_one_resumes,
    a_large_ingest_reports_progress,
    a_note_is_remembered_and_found,
    an_assistant_reads_the_turns_around_a_hit,
    an_assistant_stores_finds_reads_and_forgets_a_conversation,
    author_and_source_filters_forgive_case_accents_and_handles,
    call,
    mistakes_come_back_as_tool_errors_the_model_can_fix,
    search_replies_are_compact_unless_detail_is_asked,
    the_server_introduces_itself_with_annotated_tools,
    times_in_words_are_resolved_and_echoed,
)
from server import Server


@pytest.fixture
def base_url(service, data_dir) -> Iterator[str]:
    """A running `mcp-rag serve` over a clean database."""
    server = Server(data_dir).wait_ready(90)
    try:
        yield server.url
    finally:
        server.stop()


def drive(url: str, *scenarios) -> None:
    async def main() -> None:
        async with Client(url, read_timeout_seconds=120) as client:
            for scenario in scenarios:
                await scenario(client)

    anyio.run(main)


def test_http_mcp_lists_annotated_tools_and_the_conversation_resource(base_url):
    drive(f"{base_url}/mcp", the_server_introduces_itself_with_annotated_tools)


def test_http_mcp_assistant_stores_searches_reads_and_deletes(base_url):
    drive(f"{base_url}/mcp", an_assistant_stores_finds_reads_and_forgets_a_conversation)


def test_http_mcp_bad_arguments_and_unknown_ids_are_tool_errors(base_url):
    drive(f"{base_url}/mcp/", mistakes_come_back_as_tool_errors_the_model_can_fix)


def test_http_mcp_context_filters_dates_compact_replies_and_notes(base_url, service):
    drive(
        f"{base_url}/mcp",
        an_assistant_reads_the_turns_around_a_hit,
        author_and_source_filters_forgive_case_accents_and_handles,
        times_in_words_are_resolved_and_echoed,
        search_replies_are_compact_unless_detail_is_asked,
        a_note_is_remembered_and_found,
    )


def serve_with(data_dir, env: dict[str, str], *scenarios) -> None:
    server = Server(data_dir, env=env).wait_ready(90)
    try:
        drive(f"{server.url}/mcp", *scenarios)
    finally:
        server.stop()


def test_http_mcp_large_ingest_sends_progress(service, data_dir):
    serve_with(data_dir, {"MCP_RAG_MCP_PART_MESSAGES": "20"}, a_large_ingest_reports_progress)


def test_http_mcp_a_long_ingest_stops_within_the_call_budget_and_resumes(service, data_dir):
    env = {"MCP_RAG_MCP_CALL_SECONDS": "0.001", "MCP_RAG_MCP_PART_MESSAGES": "20"}
    serve_with(data_dir, env, a_call_stops_in_time_and_the_next_one_resumes)


def test_what_mcp_stores_rest_reads_back(base_url):
    async def ingest(client: Client) -> None:
        await call(client, "ingest_conversation", conversation_id="c-1", messages=[{"content": "hello from MCP"}])

    drive(f"{base_url}/mcp", ingest)
    r = httpx.get(f"{base_url}/v1/conversations/c-1")
    assert r.status_code == 200 and r.json()["messages"][0]["content"] == "hello from MCP"


def test_mcp_endpoint_refuses_a_foreign_host_header(base_url):
    # Bound to loopback, the SDK's DNS-rebinding protection turns away other Host names.
    r = httpx.post(
        f"{base_url}/mcp",
        headers={"Host": "evil.example", "Accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
    )
    assert r.status_code in (403, 421)
