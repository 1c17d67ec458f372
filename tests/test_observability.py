"""Observability on a real server: every metric family moves when its path runs,
and one ask leaves a span tree at an OTLP collector.

The collector is a stand-in: a local HTTP server that accepts OTLP/HTTP protobuf
exports (the real wire format), since no collector runs here. The LLM is the
local OpenAI-wire stand-in from fake_providers (api.openai.com is unreachable).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import httpx
import pytest
from fake_providers import ProviderServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families
from server import Server

CONVERSATION = {
    "id": "ski",
    "messages": [
        {
            "id": "m1",
            "author": "Kate",
            "content": "I went skiing in Colorado last week.",
            "timestamp": "2024-01-02T10:00:00Z",
        },
        {"id": "m2", "author": "Emi", "content": "Was the snow good?", "timestamp": "2024-01-02T10:01:00Z"},
    ],
}


class Collector:
    """Receives OTLP/HTTP trace exports and keeps the spans."""

    def __init__(self) -> None:
        self.spans: list = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        collector.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1/traces"

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def observed(service, data_dir):
    collector = Collector()
    llm = ProviderServer("openai")
    server = Server(
        data_dir,
        env={
            "MCP_RAG_OTEL_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "MCP_RAG_ANSWER_PROVIDER": "openai-compatible",
            "MCP_RAG_ANSWER_BASE_URL": llm.url,
            "MCP_RAG_ANSWER_MODEL": "stand-in",
        },
    ).wait_ready()
    yield server, collector
    server.stop()
    collector.close()
    llm.close()


def samples(url: str) -> dict[str, float]:
    """Sum of every sample per sample name (so labelled series add up)."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0) + sample.value
    return totals


def test_every_metric_family_moves_and_an_ask_leaves_a_span_tree(observed):
    server, collector = observed
    url = server.url
    before = samples(url)
    assert httpx.post(f"{url}/v1/conversations", json=CONVERSATION).status_code == 201
    assert httpx.post(f"{url}/v1/search", json={"query": "skiing"}).json()["hits"]
    answer = httpx.post(f"{url}/v1/ask", json={"question": "Where did Kate ski?"}, timeout=60).json()
    assert answer["provider"] == "openai-compatible" and answer["citations"]

    async def mcp_call():
        from mcp import Client

        async with Client(f"{url}/mcp") as client:
            return await client.call_tool("search_conversations", {"query": "snow"})

    assert not anyio.run(mcp_call).is_error
    after = samples(url)

    moved = {name for name in after if after[name] > before.get(name, 0)}
    for family in [
        "mcp_rag_http_requests_total",
        "mcp_rag_http_request_duration_seconds_count",
        "mcp_rag_mcp_tool_calls_total",
        "mcp_rag_mcp_tool_duration_seconds_count",
        "mcp_rag_ingest_conversations_total",
        "mcp_rag_ingest_messages_total",
        "mcp_rag_ingest_chunks_total",
        "mcp_rag_ingest_duration_seconds_count",
        "mcp_rag_search_duration_seconds_count",
        "mcp_rag_ask_duration_seconds_count",
        "mcp_rag_embedding_batch_size_count",
        "mcp_rag_embedding_duration_seconds_count",
        "mcp_rag_llm_requests_total",
        "mcp_rag_llm_tokens_total",
        "mcp_rag_llm_request_duration_seconds_count",
        "mcp_rag_db_query_duration_seconds_count",
    ]:
        assert family in moved, f"{family} did not move"
    assert after["mcp_rag_db_pool_size"] > 0
    assert after["mcp_rag_build_info"] == 1

    server.stop()  # flushes the batch span processor
    by_id = {s.span_id: s for s in collector.spans}
    ask_request = next(s for s in collector.spans if s.name == "POST /v1/ask")
    in_trace = [s for s in collector.spans if s.trace_id == ask_request.trace_id]

    names = {s.name for s in in_trace}
    assert {"service.ask", "service.search", "embed", "sql", "llm"} <= names, names

    def descends_from(span, ancestor: str) -> bool:
        span = by_id.get(span.parent_span_id)
        while span is not None:
            if span.name == ancestor:
                return True
            span = by_id.get(span.parent_span_id)
        return False

    service_ask = next(s for s in in_trace if s.name == "service.ask")
    assert descends_from(service_ask, "POST /v1/ask")  # request → (framework span) → use case
    for name in ("service.search", "embed", "sql", "llm"):
        assert any(descends_from(s, "service.ask") for s in in_trace if s.name == name), name
