"""Host names and cross-site writes, and failed-auth limiting, on a real server over loopback HTTP.

A browser page can send requests to 127.0.0.1: under a rebound DNS name (its
requests carry that name as Host) or from another site (Origin,
Sec-Fetch-Site). These tests send exactly those headers; the Chromium runs in
frontend/e2e/attacks.e2e.test.ts show a real browser sending them.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from server import Server

from mcp_rag import auth
from mcp_rag.api.sites import AllowedSites
from mcp_rag.config import load_settings
from mcp_rag.service import Service

FAILURES = 5  # failed authentications a minute per client address in this module's server
ALLOWED_HOSTS = "rag.internal, svc.example:8443"
ALLOWED_ORIGIN = "https://ui.example"
EVIL = "http://evil.example"


def conversation(cid: str) -> dict:
    return {"id": cid, "title": "Plans", "messages": [{"author": "Ana", "content": f"The codeword is {cid}."}]}


@pytest.fixture(scope="module")
def home():
    # Not under pytest's tmp_path, for the reason given in conftest.data_dir.
    path = Path(tempfile.mkdtemp(prefix="mcp-rag-sites-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@pytest.fixture(scope="module")
def local(home):
    """The server's database, in-process: to create tokens and look at what was stored."""
    service = Service(load_settings(data_dir=home, env="test"))
    yield service
    service.close()


@pytest.fixture(scope="module")
def server(home, local):
    local.ready()
    env = {
        "MCP_RAG_ALLOWED_HOSTS": ALLOWED_HOSTS,
        "MCP_RAG_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        "MCP_RAG_AUTH_FAILURES_PER_MINUTE": str(FAILURES),
    }
    srv = Server(home, env=env).wait_ready()
    yield srv
    srv.stop()


def stored(local: Service, cid: str) -> bool:
    return any(c.external_id == cid for c in local.list_conversations("default", limit=100).items)


def test_a_foreign_host_name_gets_421_on_every_path(server):
    """A DNS-rebinding page's requests name its own host; nothing is answered to it."""
    requests = [
        ("GET", "/v1/conversations", None),
        ("POST", "/v1/search", {"query": "codeword"}),
        ("DELETE", "/v1/conversations/anything", None),
        ("GET", "/v1/tokens", None),
        ("POST", "/v1/tokens", {"namespace": "default", "scopes": ["read"]}),
        ("POST", "/ingest", conversation("rebound")),
        ("GET", "/search?q=codeword", None),
        ("POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        ("GET", "/", None),
        ("GET", "/health", None),
        ("GET", "/metrics", None),
        ("GET", "/version", None),
        ("GET", "/openapi.json", None),
    ]
    for method, path, body in requests:
        for host in (f"evil.example:{server.port}", "evil.example", "localhost.evil.example", "localhost:1.evil"):
            r = httpx.request(method, server.url + path, json=body, headers={"Host": host})
            assert r.status_code == 421, (method, path, host, r.status_code)
            assert r.headers["content-type"] == "application/problem+json"
            assert host in r.json()["detail"] and "MCP_RAG_ALLOWED_HOSTS" in r.json()["detail"]


def test_loopback_names_and_configured_names_are_answered(server):
    p = server.port
    for host in (f"127.0.0.1:{p}", f"localhost:{p}", f"[::1]:{p}", "localhost", f"LOCALHOST:{p}", "rag.internal:80"):
        r = httpx.get(f"{server.url}/v1/conversations", headers={"Host": host})
        assert r.status_code == 200, host
    assert httpx.get(f"{server.url}/v1/conversations", headers={"Host": "svc.example:8443"}).status_code == 200
    # A name:port entry allows that port only.
    assert httpx.get(f"{server.url}/v1/conversations", headers={"Host": "svc.example:9000"}).status_code == 421


def test_an_ip_address_as_host_reaches_the_probes_only(server):
    """Kubelet probes and metrics scrapers name the pod by its IP address."""
    for host in ("10.1.2.3:8000", "[fd00::5]:8000"):
        for path in ("/health", "/ready", "/metrics", "/version"):
            assert httpx.get(server.url + path, headers={"Host": host}).status_code == 200, (host, path)
        assert httpx.get(f"{server.url}/v1/conversations", headers={"Host": host}).status_code == 421
        assert httpx.post(f"{server.url}/health", headers={"Host": host}).status_code == 421


def test_writes_from_another_site_get_403_and_change_nothing(server, local):
    url = server.url
    assert httpx.post(f"{url}/v1/conversations", json=conversation("kept")).status_code == 201
    attempts = [
        {"Origin": EVIL},
        {"Origin": f"http://127.0.0.1:{server.port + 1}"},  # another local app
        {"Origin": "null"},  # sandboxed frames, file:// pages
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": EVIL, "Sec-Fetch-Site": "cross-site", "Authorization": "Bearer whatever"},
    ]
    for headers in attempts:
        writes = [
            httpx.post(f"{url}/v1/conversations", json=conversation("planted"), headers=headers),
            httpx.post(f"{url}/v1/import", files={"file": ("c.json", b'{"id": "planted-file"}')}, headers=headers),
            httpx.post(f"{url}/ingest", json=conversation("planted-alias"), headers=headers),
            httpx.delete(f"{url}/v1/conversations/kept", headers=headers),
            httpx.post(f"{url}/v1/tokens", json={"namespace": "default", "scopes": ["admin"]}, headers=headers),
            httpx.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers),
        ]
        for r in writes:
            assert r.status_code == 403, (headers, r.request.url, r.status_code)
            problem = r.json()
            assert r.headers["content-type"] == "application/problem+json"
            assert "MCP_RAG_ALLOWED_ORIGINS" in problem["detail"]
            if "Origin" in headers:
                assert headers["Origin"].lower() in problem["detail"]
    assert stored(local, "kept")
    assert not any(stored(local, cid) for cid in ("planted", "planted-file", "planted-alias"))
    assert auth.list_tokens(local) == []


def test_reads_and_same_origin_or_allowed_writes_go_through(server, local):
    url, p = server.url, server.port
    # Reads: another site's page cannot see the answer (no CORS), so they are not refused.
    assert httpx.get(f"{url}/v1/conversations", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}).is_success
    writes = [
        ({}, "curl"),  # no browser headers at all
        ({"Origin": f"http://127.0.0.1:{p}", "Sec-Fetch-Site": "same-origin"}, "ui"),
        ({"Origin": f"http://localhost:{p}", "Host": f"localhost:{p}"}, "ui-localhost"),
        ({"Origin": "https://rag.internal", "Host": "rag.internal"}, "behind-tls-proxy"),
        ({"Origin": ALLOWED_ORIGIN, "Sec-Fetch-Site": "cross-site"}, "allowed-origin"),
        ({"Sec-Fetch-Site": "none"}, "typed-url"),
    ]
    for headers, cid in writes:
        r = httpx.post(f"{url}/v1/conversations", json=conversation(cid), headers=headers)
        assert r.status_code == 201, (headers, r.text)
        assert httpx.delete(f"{url}/v1/conversations/{cid}", headers=headers).status_code == 204, headers


def test_failed_authentications_get_429_per_client_address_and_valid_tokens_still_work(server, local):
    url = server.url
    token = auth.create_token(local, "default", "read,write", "sites").token
    bad = {"Authorization": "Bearer mrag_not-a-real-token"}
    statuses = [httpx.get(f"{url}/v1/conversations", headers=bad).status_code for _ in range(FAILURES)]
    assert statuses == [401] * FAILURES
    limited = httpx.get(f"{url}/v1/conversations", headers=bad)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"
    mcp = httpx.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=bad)
    assert mcp.status_code == 429
    # The same address with a valid token: served as ever.
    valid = {"Authorization": f"Bearer {token}"}
    for _ in range(3):
        assert httpx.get(f"{url}/v1/conversations", headers=valid).status_code == 200
    # Another client address has its own count.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        assert other.get(f"{url}/v1/conversations", headers=bad).status_code == 401


def test_with_tokens_the_same_host_and_origin_rules_hold(server, local):
    token = auth.create_token(local, "default", "read,write,admin", "admin").token
    time.sleep(auth._TokenPresence.ttl + 0.3)
    valid = {"Authorization": f"Bearer {token}"}
    r = httpx.get(f"{server.url}/v1/conversations", headers={**valid, "Host": "evil.example"})
    assert r.status_code == 421
    r = httpx.post(f"{server.url}/v1/conversations", json=conversation("x"), headers={**valid, "Origin": EVIL})
    assert r.status_code == 403 and not stored(local, "x")
    r = httpx.post(f"{server.url}/v1/conversations", json=conversation("y"), headers=valid)
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("host", "origin", "allowed"),
    [
        ("rag.example.com", "https://rag.example.com", True),  # TLS ends at the ingress
        ("rag.example.com:443", "https://rag.example.com", True),
        ("localhost:8080", "http://localhost:8080", True),  # the nginx frontend passes Host with its port
        ("localhost", "http://localhost:8080", False),  # another port is another origin
        ("[::1]:8000", "http://[::1]:8000", True),
        ("127.0.0.1:8000", "http://127.0.0.1:8000.evil.example", False),
        ("127.0.0.1:8000", "http://127.0.0.1:8000/path", False),
    ],
)
def test_same_origin_is_the_host_the_browser_addressed(host, origin, allowed):
    sites = AllowedSites("127.0.0.1", ["rag.example.com"], [])
    assert (sites.write_refusal(host, origin, None) is None) is allowed


def test_the_bound_address_is_answered_but_a_wildcard_bind_is_no_name():
    assert AllowedSites("192.168.1.5", [], []).host_allowed("192.168.1.5:8000", "/v1/conversations", "GET")
    assert not AllowedSites("0.0.0.0", [], []).host_allowed("0.0.0.0:8000", "/v1/conversations", "GET")
    assert AllowedSites("0.0.0.0", ["*"], []).host_allowed("anything.example", "/v1/conversations", "GET")
