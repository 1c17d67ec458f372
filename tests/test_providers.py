"""Answers through each language-model provider, over real HTTP, with the official SDKs.

The servers in fake_providers.py stand in for OpenAI, Anthropic and an
OpenAI-compatible server (Ollama, vLLM, llama.cpp), which are unreachable from
here; they speak those services' real wire formats. Everything on our side is
real: the REST app, the service, the embedded PostgreSQL, the ONNX embedder and
the `openai` / `anthropic` SDK clients.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from builders import make_conversation
from fake_providers import ProviderServer
from fastapi.testclient import TestClient
from pydantic import SecretStr

from mcp_rag.api.app import create_app
from mcp_rag.models import AskRequest
from mcp_rag.service import Service

PROVIDERS = ["openai", "anthropic", "openai-compatible"]
KEY = "sk-test-key-that-must-never-reach-a-prompt"


@pytest.fixture(scope="module", params=PROVIDERS)
def provider(request, settings) -> Iterator[tuple[str, ProviderServer, Service]]:
    """One local server and one service configured for it, per provider."""
    name = request.param
    server = ProviderServer("anthropic" if name == "anthropic" else "openai")
    overrides = {
        "answer_provider": name,
        "answer_base_url": server.url,
        "answer_max_retries": 2,
        "answer_timeout_s": 5.0,
        "answer_model": "llama3.1" if name == "openai-compatible" else None,
        "openai_api_key": SecretStr(KEY) if name == "openai" else None,
        "anthropic_api_key": SecretStr(KEY) if name == "anthropic" else None,
    }
    service = Service(settings.model_copy(update=overrides))
    yield name, server, service
    service.close()
    server.close()


@pytest.fixture
def asker(provider, service):  # `service` cleans the shared database
    name, server, provider_service = provider
    server.plan.clear()
    server.requests.clear()
    provider_service.ingest(make_conversation())
    with TestClient(create_app(provider_service.settings, provider_service)) as client:
        yield name, server, client


def ask(client, **body):
    return client.post("/v1/ask", json={"question": "Where did Kate go skiing?", **body})


def sse_events(response) -> list[tuple[str, dict]]:
    events = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_request_has_the_providers_wire_shape_and_fences_the_conversation(asker):
    name, server, client = asker
    r = ask(client)
    assert r.status_code == 200, r.text
    [request] = server.requests
    body = request.body
    if name == "anthropic":
        assert request.path == "/v1/messages"
        # Older SDKs send the key as x-api-key; anthropic 2.x sends it as a bearer token.
        sent = request.headers.get("x-api-key") or request.headers["authorization"].removeprefix("Bearer ")
        assert sent == KEY and "anthropic-version" in request.headers
        assert body["model"] == "claude-haiku-4-5" and body["max_tokens"] > 0
        assert "untrusted data" in body["system"]
        [message] = body["messages"]
    else:
        assert request.path == "/v1/chat/completions"
        expected_key = KEY if name == "openai" else "not-needed"
        assert request.headers["authorization"] == f"Bearer {expected_key}"
        if name == "openai":
            assert body["model"] == "gpt-4.1-mini" and body["max_completion_tokens"] > 0
        else:
            assert body["model"] == "llama3.1" and body["max_tokens"] > 0 and body["temperature"] == 0
        system, message = body["messages"]
        assert system["role"] == "system" and "untrusted data" in system["content"]
    assert message["role"] == "user"
    prompt = message["content"]
    assert prompt.startswith("<conversations nonce=") and "Question: Where did Kate go skiing?" in prompt
    assert "Kate: I went skiing in Colorado last weekend." in prompt and "2024-01-02 10:00" in prompt
    assert KEY not in json.dumps(body)


def test_answer_keeps_citations_to_supplied_turns_and_drops_made_up_ones(asker):
    name, server, client = asker
    answer = ask(client).json()
    assert answer["provider"] == name and answer["extractive"] is False and answer["error"] is None
    assert answer["model"] in ("gpt-4.1-mini", "claude-haiku-4-5", "llama3.1")
    assert "[99]" not in answer["answer"]
    [citation] = answer["citations"]
    assert f"[{citation['n']}]" in answer["answer"]
    assert citation["message_ids"] == ["m1"] and "Colorado" in citation["quote"]
    assert citation["timestamp"] == "2024-01-02T10:00:00Z"
    assert answer["sources"][0]["conversation_external_id"] == "conv-1"


def test_streamed_answer_arrives_as_sources_then_tokens_then_done(asker):
    name, server, client = asker
    r = ask(client, stream=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r)
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done" and kinds.count("token") > 3
    assert events[0][1]["sources"][0]["message_ids"] == ["m1"]
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    assert "Colorado" in streamed
    done = events[-1][1]
    assert done["provider"] == name and "[99]" not in done["answer"] and done["citations"]
    assert server.requests[0].body["stream"] is True


@pytest.mark.parametrize("stream", [False, True])
def test_rate_limit_is_retried_with_backoff_then_succeeds(asker, stream):
    name, server, client = asker
    server.plan[:] = [429, 429]
    r = ask(client, stream=stream)
    answer = sse_events(r)[-1][1] if stream else r.json()
    assert answer["provider"] == name and answer["error"] is None and "Colorado" in answer["answer"]
    assert len(server.requests) == 3


@pytest.mark.parametrize("stream", [False, True])
def test_wrong_key_falls_back_to_extractive_with_a_clear_error_and_the_sources(asker, stream):
    name, server, client = asker
    server.plan[:] = [401]
    r = ask(client, stream=stream)
    assert r.status_code == 200
    answer = sse_events(r)[-1][1] if stream else r.json()
    assert len(server.requests) == 1  # a 401 is not retried
    assert "rejected the API key (HTTP 401)" in answer["error"]
    assert ("ANTHROPIC_API_KEY" if name == "anthropic" else "OPENAI_API_KEY") in answer["error"]
    assert KEY not in answer["error"]
    assert answer["extractive"] is True and answer["provider"] == "extractive"
    assert answer["sources"] and answer["citations"][0]["message_ids"] == ["m1"]


def test_server_errors_past_the_retry_budget_are_reported_not_raised(asker):
    name, server, client = asker
    server.plan[:] = [500, 503, 502]
    answer = ask(client).json()
    assert len(server.requests) == 3
    assert "failed (HTTP 502) after 2 retries" in answer["error"] and answer["sources"]


def test_stream_cut_short_by_the_provider_ends_with_an_error_event(asker):
    name, server, client = asker
    server.plan[:] = ["break-mid-stream"]
    events = sse_events(ask(client, stream=True))
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources" and "token" in kinds and kinds[-1] == "error"
    problem = events[-1][1]
    assert problem["status"] == 503 and name.split("-")[0] in problem["detail"]


def test_follow_up_is_rewritten_by_the_model_before_retrieval(asker):
    name, server, client = asker
    replies = iter(["Where did Kate go skiing last weekend?", "In Colorado [1]."])
    original, server.reply = server.reply, lambda body: next(replies)
    try:
        history = [
            {"role": "user", "content": "What did Kate do last weekend?"},
            {"role": "assistant", "content": "She went skiing [1]."},
        ]
        answer = client.post("/v1/ask", json={"question": "Where was that?", "history": history}).json()
    finally:
        server.reply = original
    assert answer["question"] == "Where did Kate go skiing last weekend?"
    rewrite = json.dumps(server.requests[0].body)
    assert "Rewrite the user's last question" in rewrite and "Where was that?" in rewrite
    assert answer["answer"] == "In Colorado [1]." and answer["citations"]


def test_unreachable_provider_is_named_in_the_error_and_sources_still_come_back(settings, service):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    down = Service(
        settings.model_copy(
            update={
                "answer_provider": "openai-compatible",
                "answer_model": "llama3.1",
                "answer_base_url": f"http://127.0.0.1:{port}/v1",
                "answer_max_retries": 0,
            }
        )
    )
    try:
        down.ingest(make_conversation())
        with TestClient(create_app(down.settings, down)) as client:
            answer = ask(client).json()
    finally:
        down.close()
    assert answer["error"] == f"openai-compatible is unreachable at http://127.0.0.1:{port}/v1"
    assert answer["sources"] and answer["extractive"] and "Colorado" in answer["answer"]


def test_slow_provider_times_out_with_the_setting_named(settings, service):
    server = ProviderServer("openai", delay_s=2.0)
    slow = Service(
        settings.model_copy(
            update={
                "answer_provider": "openai-compatible",
                "answer_model": "llama3.1",
                "answer_base_url": server.url,
                "answer_max_retries": 0,
                "answer_timeout_s": 0.3,
            }
        )
    )
    try:
        slow.ingest(make_conversation())
        answer = slow.ask(_request())
    finally:
        slow.close()
        server.close()
    assert answer.error == "openai-compatible did not answer within 0.3s (MCP_RAG_ANSWER_TIMEOUT_S)"
    assert answer.sources and answer.citations


def test_compatible_provider_without_a_model_says_which_setting_is_missing(settings, service):
    unset = Service(settings.model_copy(update={"answer_provider": "openai-compatible", "answer_model": None}))
    try:
        unset.ingest(make_conversation())
        answer = unset.ask(_request())
    finally:
        unset.close()
    assert "MCP_RAG_ANSWER_MODEL" in answer.error and answer.extractive and answer.citations


def _request() -> AskRequest:
    return AskRequest(question="Where did Kate go skiing?")
