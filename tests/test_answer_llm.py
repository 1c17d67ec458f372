"""Answers from language models: not-found replies, weak retrieval, invented citations in
streams, and follow-up rewrites that neither hold the stream back nor run long.

The model servers are local HTTP servers speaking OpenAI's and Anthropic's real wire
formats (tests/fake_providers.py), standing in for services unreachable from here; the
SDKs, the service, the database and the embedder are the real ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from builders import make_conversation
from fake_providers import ProviderServer
from fastapi.testclient import TestClient
from pydantic import SecretStr
from test_providers import sse_events

from mcp_rag.answer import REWRITE_MAX_TOKENS, CitationFilter
from mcp_rag.api.app import create_app
from mcp_rag.models import AskRequest
from mcp_rag.prompt import NOT_FOUND
from mcp_rag.service import Service


@pytest.fixture(params=["openai", "anthropic", "openai-compatible"])
def llm(request, settings, service) -> Iterator[tuple[str, ProviderServer, Service]]:
    name = request.param
    server = ProviderServer("anthropic" if name == "anthropic" else "openai")
    overrides = {
        "answer_provider": name,
        "answer_base_url": server.url,
        "answer_max_retries": 2,
        "answer_timeout_s": 5.0,
        "answer_model": "llama3.1" if name == "openai-compatible" else None,
        "openai_api_key": SecretStr("sk-test") if name == "openai" else None,
        "anthropic_api_key": SecretStr("sk-test") if name == "anthropic" else None,
    }
    svc = Service(settings.model_copy(update=overrides))
    svc.ingest(make_conversation())
    yield name, server, svc
    svc.close()
    server.close()


@pytest.mark.parametrize("stream", [False, True])
def test_a_model_that_replies_not_found_gives_found_false(llm, stream):
    name, server, svc = llm
    server.reply = lambda body: f"{NOT_FOUND}"
    with TestClient(create_app(svc.settings, svc)) as client:
        r = client.post("/v1/ask", json={"question": "What did Kate eat after skiing?", "stream": stream})
    answer = sse_events(r)[-1][1] if stream else r.json()
    assert len(server.requests) == 1  # the retrieval was strong enough to ask the model
    assert answer["found"] is False and answer["answer"] == NOT_FOUND and answer["citations"] == []
    assert answer["provider"] == name and answer["sources"]


def test_weak_retrieval_is_not_found_without_calling_the_model(llm):
    name, server, svc = llm
    answer = svc.ask(AskRequest(question="What is the wifi password at the office?"))
    assert server.requests == []
    assert answer.found is False and answer.answer == NOT_FOUND and answer.provider == name


def test_invented_citation_numbers_never_reach_the_client_in_the_stream(llm):
    name, server, svc = llm
    # Split on whitespace into deltas: "[1," and "99]" arrive apart, as a model's tokens do.
    server.reply = lambda body: "Kate went skiing in Colorado [1, 99] and liked it [42]. See [note] too."
    with TestClient(create_app(svc.settings, svc)) as client:
        events = sse_events(client.post("/v1/ask", json={"question": "Where did Kate go skiing?", "stream": True}))
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    done = events[-1][1]
    assert "99" not in streamed and "[42]" not in streamed and "[1]" in streamed and "[note]" in streamed
    assert streamed.strip() == done["answer"].strip() or streamed.replace(" .", ".") == done["answer"]
    assert [c["n"] for c in done["citations"]] == [1]


def test_follow_up_rewrite_is_capped_and_the_stream_opens_before_any_model_call(llm):
    name, server, svc = llm
    replies = iter(["Where did Kate go skiing last weekend?", "In Colorado [1]."])
    server.reply = lambda body: next(replies)
    history = [
        {"role": "user", "content": "What did Kate do last weekend?"},
        {"role": "assistant", "content": "She went skiing [1]."},
    ]
    events = svc.ask_stream(AskRequest(question="Where was that?", history=history), "default")
    kind, first = next(events)
    assert kind == "sources" and first["sources"] and server.requests == []  # nothing asked of the model yet
    rest = list(events)
    rewrite = server.requests[0].body
    cap = rewrite.get("max_tokens") or rewrite.get("max_completion_tokens")
    assert cap == REWRITE_MAX_TOKENS
    assert "Rewrite the user's last question" in str(rewrite)
    done = rest[-1][1]
    assert done.question == "Where did Kate go skiing last weekend?" and done.found and done.citations


def test_citation_filter_holds_an_open_bracket_until_it_closes():
    from mcp_rag.chunking import Turn
    from mcp_rag.prompt import SourceTurn

    turn = Turn(0, "m1", "Kate", None, "hi", None)
    sources = [SourceTurn(n, __import__("uuid").uuid4(), "c", None, turn, 0) for n in (1, 2)]
    f = CitationFilter(sources)
    out = [f.feed(d) for d in ["Colorado [", "1", "][", "9", "9] and [2", ", 7]", " [x] [", "3"]]
    out.append(f.flush())
    assert out[0] == "Colorado " and out[1] == ""  # held while it may still be a citation
    assert "".join(out) == "Colorado [1] and [2] [x] [3"
