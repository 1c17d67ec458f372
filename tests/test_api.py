"""The REST door against the real app, database and model."""

from __future__ import annotations

import re

import pytest
from builders import make_conversation
from fastapi.testclient import TestClient

from mcp_rag.api.app import create_app


def ingest(client, **fields):
    body = make_conversation(**fields).model_dump(mode="json")
    return client.post("/v1/conversations", json=body)


def test_ingest_returns_201_then_200_for_the_same_conversation(client):
    first = ingest(client)
    assert first.status_code == 201 and first.json()["messages_added"] == 3
    again = ingest(client)
    assert again.status_code == 200 and again.json()["messages_added"] == 0


def test_search_over_http_points_at_the_ingested_messages(client):
    ingest(client)
    r = client.post("/v1/search", json={"query": "skiing", "top_k": 5})
    assert r.status_code == 200
    hit = r.json()["hits"][0]
    assert hit["conversation_external_id"] == "conv-1"
    assert hit["message_ids"] == ["m1"]  # one turn per chunk: the hit is the turn that says it
    r = client.get("/v1/search", params={"q": "skiing", "top_k": 1, "author": "Kate"})
    assert r.status_code == 200 and len(r.json()["hits"]) == 1


def test_list_get_delete_round_trip(client):
    for i in range(3):
        ingest(client, id=f"c{i}")
    page = client.get("/v1/conversations", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get("/v1/conversations", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    seen = {c["external_id"] for c in page["items"] + rest["items"]}
    assert seen == {"c0", "c1", "c2"}

    by_external = client.get("/v1/conversations/c1", params={"offset": 1, "limit": 1}).json()
    assert [m["id"] for m in by_external["messages"]] == ["m2"]
    assert by_external["message_count"] == 3
    by_uuid = client.get(f"/v1/conversations/{by_external['id']}").json()
    assert by_uuid["external_id"] == "c1"

    assert client.delete("/v1/conversations/c1").status_code == 204
    assert client.get("/v1/conversations/c1").status_code == 404
    assert client.delete("/v1/conversations/c1").status_code == 404


def test_append_messages_endpoint(client):
    ingest(client)
    r = client.post("/v1/conversations/conv-1/messages", json=[{"author": "Emi", "content": "see you soon"}])
    assert r.status_code == 200 and r.json()["messages_total"] == 4
    r = client.post("/v1/conversations/missing/messages", json=[{"content": "x"}])
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/conversations", {"messages": []}),
        ("post", "/v1/conversations", {"messages": [{"content": "a\u0000b"}]}),
        ("post", "/v1/conversations", {"messages": [{"content": "hi", "id": False}]}),  # ids: strings or integers
        ("post", "/v1/conversations", {"id": True, "messages": [{"content": "hi"}]}),
        ("post", "/v1/conversations", {"messages": [{"content": "x" * 200_001}]}),
        ("post", "/v1/conversations", {"title": "no messages"}),
        ("post", "/v1/conversations", ["not", "an", "object"]),
        ("post", "/v1/search", {"query": "x", "top_k": 0}),
        ("post", "/v1/search", {"query": "x", "top_k": 101}),
        ("post", "/v1/search", {"query": ""}),
        ("post", "/v1/search", {"query": "x", "since": "the day the music died"}),
        ("post", "/v1/search", {"query": "x", "since": "last week", "timezone": "Mars/Olympus"}),
        # Valid ISO 8601, but outside years 1-9999 once in UTC: the database would refuse them.
        ("post", "/v1/conversations", {"messages": [{"content": "hi", "timestamp": "9999-12-31T23:59:59-01:00"}]}),
        ("post", "/v1/conversations", {"messages": [{"content": "hi", "timestamp": "0001-01-01T00:00:00+01:00"}]}),
        ("post", "/v1/search", {"query": "x", "until": "9999-12-31T23:59:59-01:00"}),
        ("post", "/v1/search", {"query": "x", "unknown_filter": 1}),
        ("get", "/v1/conversations?cursor=garbage", None),
        ("get", "/v1/conversations?limit=0", None),
    ],
)
def test_bad_input_is_a_4xx_problem_json(client, method, path, body):
    r = getattr(client, method)(path, json=body) if body is not None else getattr(client, method)(path)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == r.status_code and problem["detail"]


def test_the_ui_answers_its_screens_and_a_404_elsewhere(service, settings, tmp_path, monkeypatch):
    """MCP clients probe /.well-known/oauth-* after a 401 and take a 404 as "no OAuth";
    the UI's page there would break their discovery."""
    (tmp_path / "index.html").write_text("<!doctype html><title>mcp-rag</title>")
    monkeypatch.setattr("mcp_rag.api.app.ui_dir", lambda: tmp_path)
    with TestClient(create_app(settings, service)) as ui:
        for path in ("/", "/chat", "/conversations", "/conversations/123", "/import", "/settings?x=1"):
            page = ui.get(path)
            assert page.status_code == 200 and "<title>mcp-rag</title>" in page.text, path
        not_screens = ("/.well-known/oauth-protected-resource", "/.well-known/oauth-authorization-server", "/.env")
        for path in (*not_screens, "/sse", "/api/search", "/v2/search", "/chats"):
            r = ui.get(path)
            assert r.status_code == 404, path
            assert r.headers["content-type"].startswith("application/problem+json")


def test_the_api_docs_page_works_offline(client):
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200 and "mcp-rag" in page.text
        files = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert files and all(url.startswith("/") and not url.startswith("//") for url in files), files  # no CDN
        for url in files:
            assert client.get(url).status_code == 200, url


def test_malformed_json_body_is_422(client):
    r = client.post("/v1/conversations", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    cut = b'{"query": "skiing", "top_k": 5'
    r = client.post("/v1/search", content=cut, headers={"content-type": "application/json"})
    assert r.json()["detail"] == "body: not valid JSON at character 30 (Expecting ',' delimiter)"
    r = client.post("/v1/search", content=b'{"query": "skiing"}')  # curl -d without a content type
    assert r.json()["detail"] == "body: expected a JSON body; send it with Content-Type: application/json"


def test_undecodable_body_says_at_which_byte(client):
    body = b'{"query": "caf' + b"\xe9" + b' au lait"}'  # Latin-1, not UTF-8
    r = client.post("/v1/search", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "body: not valid UTF-8 at byte 14 (invalid continuation byte)"


def test_body_nested_too_deeply_says_so(client):
    deep = b'{"query": "x", "filters": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = client.post("/v1/search", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith("body: JSON nested too deeply")


def test_operations_endpoints(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    version = client.get("/version").json()
    from mcp_rag.store.db import head_revision

    assert version["schema_revision"] == head_revision()
    assert version["embedding_model"] == "all-MiniLM-L6-v2"
    assert client.get("/openapi.json").json()["info"]["title"] == "mcp-rag"


def test_published_json_schema_matches_the_model_and_accepts_the_examples():
    import json
    from pathlib import Path

    import jsonschema

    from mcp_rag.models import ConversationIn

    root = Path(__file__).resolve().parents[1]
    published = json.loads((root / "schema/conversation.schema.json").read_text())
    generated = ConversationIn.model_json_schema()
    assert published["properties"] == generated["properties"]
    assert published["$defs"] == generated["$defs"]
    jsonschema.validate(json.loads((root / "examples/ski-trip.json").read_text()), published)
    for line in (root / "examples/support-chat.jsonl").read_text().splitlines():
        jsonschema.validate(json.loads(line), published)
