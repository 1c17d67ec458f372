"""Tokens, namespaces and protections, tested on a real server process over loopback HTTP."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest
from server import MCP_RAG, Server, free_port

from mcp_rag import auth
from mcp_rag.config import load_settings
from mcp_rag.service import Service

RATE = 120  # requests a minute per token in this module's server
CONVERSATION = {
    "id": "secret-plans",
    "title": "Surprise party",
    "messages": [{"author": "Ana", "content": "The surprise party for Ben is on Friday at the boathouse."}],
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("security-data")


@pytest.fixture(scope="module")
def local(home):
    """The same database as the server's, in-process: used to create tokens."""
    service = Service(load_settings(data_dir=home, env="test"))
    yield service
    service.close()


@pytest.fixture(scope="module")
def server(home, local):
    local.ready()  # start the shared embedded database first
    srv = Server(
        home,
        env={"MCP_RAG_RATE_LIMIT_PER_MINUTE": str(RATE), "MCP_RAG_MAX_BODY_BYTES": "100000"},
    ).wait_ready()
    yield srv
    srv.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for_token_cache():
    time.sleep(auth._TokenPresence.ttl + 0.3)


def test_open_on_loopback_until_the_first_token_exists(server, local):
    assert httpx.get(f"{server.url}/v1/conversations").status_code == 200
    token = auth.create_token(local, "default", "read", "first").token
    wait_for_token_cache()
    r = httpx.get(f"{server.url}/v1/conversations")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"] == "application/problem+json"
    assert httpx.get(f"{server.url}/v1/conversations", headers=bearer(token)).status_code == 200
    # public endpoints stay public
    for path in ("/health", "/ready", "/version", "/metrics", "/openapi.json"):
        assert httpx.get(f"{server.url}{path}").status_code == 200, path


def test_a_token_sees_only_its_namespace(server, local):
    a = auth.create_token(local, "team-a", "read,write", "a").token
    b = auth.create_token(local, "team-b", "read,write", "b").token
    url = server.url
    assert httpx.post(f"{url}/v1/conversations", json=CONVERSATION, headers=bearer(a)).status_code == 201

    assert httpx.get(f"{url}/v1/conversations/secret-plans", headers=bearer(b)).status_code == 404
    assert httpx.get(f"{url}/v1/conversations", headers=bearer(b)).json()["items"] == []
    hits = httpx.post(f"{url}/v1/search", json={"query": "surprise party"}, headers=bearer(b)).json()["hits"]
    assert hits == []
    r = httpx.post(f"{url}/v1/search", json={"query": "x", "conversation_id": "secret-plans"}, headers=bearer(b))
    assert r.status_code == 404
    assert httpx.delete(f"{url}/v1/conversations/secret-plans", headers=bearer(b)).status_code == 404
    r = httpx.post(f"{url}/ingest", json={"conversation_id": "secret-plans", "content": "hi"}, headers=bearer(b))
    assert r.status_code == 201  # a new conversation of the same name, in B's namespace

    # A still sees its own, untouched
    mine = httpx.get(f"{url}/v1/conversations/secret-plans", headers=bearer(a)).json()
    assert mine["message_count"] == 1 and mine["namespace"] == "team-a"
    hits = httpx.post(f"{url}/v1/search", json={"query": "surprise party"}, headers=bearer(a)).json()["hits"]
    assert hits and hits[0]["conversation_external_id"] == "secret-plans"


def test_wrong_revoked_and_malformed_tokens_are_rejected(server, local):
    token = auth.create_token(local, "default", "read", "soon revoked")
    assert httpx.get(f"{server.url}/v1/conversations", headers=bearer(token.token)).status_code == 200
    auth.revoke_token(local, str(token.id))
    r = httpx.get(f"{server.url}/v1/conversations", headers=bearer(token.token))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert httpx.get(f"{server.url}/v1/conversations", headers=bearer("mrag_wrong")).status_code == 401
    r = httpx.get(f"{server.url}/v1/conversations", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert r.status_code == 401


def test_scopes_are_enforced(server, local):
    reader = auth.create_token(local, "scoped", "read").token
    admin = auth.create_token(local, "scoped", "read,write,admin").token
    r = httpx.post(f"{server.url}/v1/conversations", json=CONVERSATION, headers=bearer(reader))
    assert r.status_code == 403 and "write" in r.json()["detail"]
    assert httpx.get(f"{server.url}/v1/tokens", headers=bearer(reader)).status_code == 403

    created = httpx.post(f"{server.url}/v1/tokens", json={"name": "bot", "scopes": ["read"]}, headers=bearer(admin))
    assert created.status_code == 201
    new = created.json()
    assert new["namespace"] == "scoped" and new["token"].startswith("mrag_")
    listed = httpx.get(f"{server.url}/v1/tokens", headers=bearer(admin)).json()
    assert {t["namespace"] for t in listed} == {"scoped"} and all("token" not in t for t in listed)
    assert httpx.delete(f"{server.url}/v1/tokens/{new['id']}", headers=bearer(admin)).status_code == 204
    bad = httpx.post(f"{server.url}/v1/tokens", json={"scopes": ["root"]}, headers=bearer(admin))
    assert bad.status_code == 422


def test_runbook_calls_work_verbatim(server, local):
    token = auth.create_token(local, "ops", "read,write").token
    h = {**bearer(token), "content-type": "application/json"}
    r = httpx.post(
        f"{server.url}/ingest", content='{"conversation_id": "test-123", "content": "test message"}', headers=h
    )
    assert r.status_code == 201 and r.json()["external_id"] == "test-123"
    r = httpx.post(f"{server.url}/ingest", content='{"conversation_id": "test-123", "content": "second"}', headers=h)
    assert r.json()["messages_total"] == 2
    r = httpx.post(f"{server.url}/search", content='{"query": "test", "limit": 5}', headers=h)
    assert r.status_code == 200 and r.json()["hits"][0]["conversation_external_id"] == "test-123"


def test_body_over_the_limit_is_413(server, local):
    token = auth.create_token(local, "default", "read,write").token
    big = {"messages": [{"content": "x" * 150_000}]}
    r = httpx.post(f"{server.url}/v1/conversations", json=big, headers=bearer(token))
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"messages": [{"content": "'
        for _ in range(20):
            yield b"y" * 10_000
        yield b'"}]}'

    r = httpx.post(
        f"{server.url}/v1/conversations",
        content=chunks(),
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert r.status_code == 413


def test_rate_limit_answers_429_with_retry_after(server, local):
    token = auth.create_token(local, "default", "read").token
    with httpx.Client(headers=bearer(token)) as client:
        responses = [client.get(f"{server.url}/v1/conversations?limit=1") for _ in range(RATE + 10)]
    statuses = [r.status_code for r in responses]
    # The bucket refills (RATE a minute) while requests run, so look at the first refusal, not the last request.
    limited = next((r for r in responses if r.status_code == 429), responses[-1])
    assert 429 in statuses and statuses[0] == 200
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_request_ids_security_headers_metrics_and_audit(server, local):
    token = auth.create_token(local, "audited", "read,write,admin").token
    r = httpx.post(
        f"{server.url}/v1/conversations", json=CONVERSATION, headers={**bearer(token), "X-Request-ID": "req-42"}
    )
    assert r.headers["x-request-id"] == "req-42"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert httpx.get(f"{server.url}/health").headers["x-request-id"]  # generated when not given
    assert httpx.delete(f"{server.url}/v1/conversations/secret-plans", headers=bearer(token)).status_code == 204

    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'route="/v1/conversations/{conversation_id}"' in metrics
    assert "secret-plans" not in metrics  # route templates, never raw paths

    actions = [e["action"] for e in auth.audit_log(local, "audited")]
    assert actions[:2] == ["conversation.delete", "token.create"]
    log = server.log.read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    mine = [entry for entry in lines if entry.get("request_id") == "req-42"]
    assert mine and mine[0]["route"] == "/v1/conversations" and mine[0]["namespace"] == "audited"
    assert token not in log and "surprise party" not in log.lower()


def test_validation_errors_are_422_problem_json(server, local):
    token = auth.create_token(local, "default", "read,write").token
    r = httpx.post(f"{server.url}/ingest", json={"conversation_id": "x", "content": "a\u0000b"}, headers=bearer(token))
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
    r = httpx.get(f"{server.url}/v1/search", params={"q": "x", "since": "soon"}, headers=bearer(token))
    assert r.status_code == 422


def test_non_loopback_bind_without_tokens_is_refused_unless_insecure(service, data_dir):
    # the session database: running already, and truncated so no token exists
    env = {"MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_ENV": "test", "PATH": "/usr/bin:/bin"}
    port = str(free_port())
    r = subprocess.run(
        [MCP_RAG, "serve", "--host", "0.0.0.0", "--port", port], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert "refusing to serve on 0.0.0.0 without API tokens" in r.stderr and "--insecure" in r.stderr
    insecure = Server(data_dir, args=("--host", "0.0.0.0", "--insecure"))
    try:
        insecure.wait_ready()
        assert "no API tokens (--insecure)" in insecure.log.read_text()
    finally:
        insecure.stop()


def test_the_runbook_ask_call_works_verbatim(server, local):
    token = auth.create_token(local, "ops-ask", "read,write").token
    h = {**bearer(token), "content-type": "application/json"}
    httpx.post(
        f"{server.url}/ingest",
        content='{"conversation_id": "test-123", "content": "MCP is the Model Context Protocol."}',
        headers=h,
    )
    r = httpx.post(
        f"{server.url}/ask",
        content='{"question": "What is MCP?", "conversation_id": "test-123"}',
        headers=h,
        timeout=60,
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["citations"] and answer["citations"][0]["conversation_external_id"] == "test-123"


def test_mcp_over_http_is_confined_to_the_tokens_namespace(server, local):
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    a = auth.create_token(local, "mcp-a", "read,write").token
    b = auth.create_token(local, "mcp-b", "read").token
    url = server.url
    assert httpx.post(f"{url}/v1/conversations", json=CONVERSATION, headers=bearer(a)).status_code == 201

    async def as_caller(token: str, tool: str, **arguments):
        async with httpx2.AsyncClient(headers=bearer(token), timeout=60) as http:
            async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
                return await client.call_tool(tool, arguments)

    def text(result) -> str:
        return " ".join(getattr(c, "text", "") for c in result.content)

    own = anyio.run(lambda: as_caller(a, "search_conversations", query="surprise party"))
    assert not own.is_error and "secret-plans" in text(own)
    for tool, args in [
        ("search_conversations", {"query": "surprise party"}),
        ("get_conversation", {"conversation_id": "secret-plans"}),
        ("ask", {"question": "When is the surprise party?"}),
        ("list_conversations", {}),
    ]:
        result = anyio.run(lambda tool=tool, args=args: as_caller(b, tool, **args))
        assert "boathouse" not in text(result).lower(), (tool, text(result))
        if tool == "get_conversation":
            assert result.is_error and "not found" in text(result)
        else:
            found = result.structured_content
            leaked = found.get("hits") or found.get("items") or found.get("citations") or found.get("sources")
            assert not result.is_error and not leaked, (tool, found)
    deleted = anyio.run(lambda: as_caller(b, "delete_conversation", conversation_id="secret-plans"))
    assert deleted.is_error and "write" in text(deleted)  # B's token is read-only, and A's data is not B's
    assert httpx.get(f"{url}/v1/conversations/secret-plans", headers=bearer(a)).status_code == 200
    # no token at all: refused before MCP runs
    assert httpx.post(f"{url}/mcp", json={}).status_code == 401
