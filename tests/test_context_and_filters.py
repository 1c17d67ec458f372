"""Around a hit, forgiving filters, times in words and notes, through REST and the service:
what an assistant gets over MCP (tests/mcp_scenario.py), a person gets over HTTP too."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mcp_rag.errors import Invalid, NotFound
from mcp_rag.models import ConversationIn, SearchRequest


def chat(n: int = 40) -> dict:
    people = ["Kate Moreno", "elise", "Zoë Martin"]
    return {
        "id": "long",
        "title": "Long",
        "source": "Slack",
        "messages": [
            {
                "id": f"m{i}",
                "author": people[i % 3],
                "content": "the lighthouse lantern is brass" if i == 25 else f"item {i} on the list",
                "timestamp": f"2024-03-{1 + i % 28:02d}T09:00:00Z",
            }
            for i in range(1, n + 1)
        ],
    }


@pytest.fixture
def stored(client):
    r = client.post("/v1/conversations", json=chat())
    assert r.status_code == 201, r.text
    return r.json()


def test_hits_carry_their_position_and_the_conversation_length(client, stored):
    r = client.post("/v1/search", json={"query": "lighthouse lantern brass", "top_k": 3})
    top = r.json()["hits"][0]
    assert "m25" in top["message_ids"] and top["first_seq"] <= 25 <= top["last_seq"]
    assert top["message_count"] == 40


def test_a_conversation_reads_around_a_message(client, stored):
    r = client.get("/v1/conversations/long", params={"around": "m25"})
    page = r.json()
    assert [m["id"] for m in page["messages"]] == [f"m{i}" for i in range(15, 36)]
    assert page["around"] == "m25" and page["offset"] == 14
    r = client.get("/v1/conversations/long", params={"around": "m39", "before": 1, "after": 5})
    assert [m["id"] for m in r.json()["messages"]] == ["m38", "m39", "m40"]
    r = client.get("/v1/conversations/long", params={"around": "nope"})
    assert r.status_code == 404 and "message 'nope' not found" in r.json()["detail"]
    assert client.get("/v1/conversations/long", params={"around": "m2", "before": -1}).status_code == 422


@pytest.mark.parametrize(
    ("wanted", "stored_name"),
    [("kate", "Kate Moreno"), ("ELISE", "elise"), ("zoe", "Zoë Martin"), ("Moreno", "Kate Moreno")],
)
def test_author_matches_whole_name_parts_ignoring_case_and_accents(client, stored, wanted, stored_name):
    r = client.get("/v1/search", params={"q": "item on the list", "author": wanted})
    body = r.json()
    assert body["hits"] and all(stored_name in h["authors"] for h in body["hits"])
    assert body["filters"]["authors"] == [stored_name]
    listed = client.get("/v1/conversations", params={"author": wanted}).json()
    assert [c["external_id"] for c in listed["items"]] == ["long"]


def test_an_author_or_source_matching_nothing_is_a_422_naming_the_closest(client, stored):
    r = client.post("/v1/search", json={"query": "item", "author": "Katie"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert "no participant matches 'Katie'" in r.json()["detail"] and "Kate Moreno" in r.json()["detail"]
    r = client.post("/v1/ask", json={"question": "what is on the list?", "author": "Kat"})
    assert r.status_code == 422 and "Kate Moreno" in r.json()["detail"]
    r = client.post("/v1/search", json={"query": "item", "source": "slak"})
    assert r.status_code == 422 and "Slack" in r.json()["detail"]
    r = client.get("/v1/conversations", params={"source": "discord"})
    assert r.status_code == 422 and "Slack" in r.json()["detail"]
    r = client.post("/v1/search", json={"query": "item", "conversation_id": "lnog"})
    assert r.status_code == 404 and "closest: long" in r.json()["detail"]


def test_source_matches_ignoring_case(client, stored):
    body = client.post("/v1/search", json={"query": "item", "source": "slack"}).json()
    assert body["hits"] and body["filters"]["source"] == "Slack"


def test_times_in_words_are_read_against_a_stated_now_and_zone_and_echoed(client, stored):
    body = {"query": "item on the list", "top_k": 50, "since": "last week", "now": "2024-03-14T12:00:00Z"}
    r = client.post("/v1/search", json=body).json()
    assert r["filters"]["since"] == "2024-03-04T00:00:00Z" and r["filters"]["now"] == "2024-03-14T12:00:00Z"
    assert all(h["ended_at"] >= "2024-03-04" for h in r["hits"])
    r = client.post("/v1/search", json={**body, "timezone": "America/New_York"}).json()
    assert r["filters"]["since"] == "2024-03-04T05:00:00Z" and r["filters"]["timezone"] == "America/New_York"
    r = client.get("/v1/search", params={"q": "item", "since": "in March 2024", "until": "in March 2024"}).json()
    assert (r["filters"]["since"], r["filters"]["until"]) == ("2024-03-01T00:00:00Z", "2024-03-31T23:59:59.999999Z")
    r = client.post(
        "/v1/ask", json={"question": "what is on the list?", "since": "2 days ago", "now": "2024-03-14T12:00:00Z"}
    )
    assert r.json()["filters"]["since"] == "2024-03-12T00:00:00Z"


def test_a_time_that_cannot_be_read_is_a_422_saying_which(client):
    r = client.post("/v1/search", json={"query": "x", "until": "when pigs fly"})
    assert r.status_code == 422 and "until" in r.json()["detail"] and "could not read" in r.json()["detail"]


def test_remember_stores_a_searchable_note_with_author_and_time(client):
    r = client.post("/v1/remember", json={"note": "Kate is vegetarian.", "author": "Emi"})
    assert r.status_code == 201, r.text
    kept = r.json()
    assert kept["conversation_external_id"] == "notes" and kept["author"] == "Emi"
    r = client.post("/v1/remember", json={"note": "The offsite is in Lisbon.", "timestamp": "2024-05-01T10:00:00Z"})
    assert r.json()["timestamp"] == "2024-05-01T10:00:00Z" and r.json()["author"] == "local"
    hits = client.post("/v1/search", json={"query": "vegetarian", "top_k": 1}).json()["hits"]
    assert hits[0]["message_ids"] == [kept["message_id"]] and "Emi" in hits[0]["text"]
    page = client.get("/v1/conversations/notes").json()
    assert page["title"] == "Notes" and page["message_count"] == 2
    assert client.post("/v1/remember", json={"note": "  "}).status_code == 422


def test_an_ingest_in_parts_stops_at_its_deadline_and_resumes(service):
    conv = ConversationIn(id="parts", messages=[{"content": f"turn {i}"} for i in range(1, 8)])
    seen: list[tuple[int, int]] = []
    first = service.ingest_in_parts(conv, part=3, deadline=0.0, progress=lambda d, t: seen.append((d, t)))
    assert (first.complete, first.next_index, first.messages_total, first.created) == (False, 3, 3, True)
    rest = service.ingest_in_parts(conv, part=3, progress=lambda d, t: seen.append((d, t)))
    assert (rest.complete, rest.messages_added, rest.messages_total, rest.created) == (True, 4, 7, False)
    assert seen == [(3, 7), (3, 7), (6, 7), (7, 7)]
    again = service.ingest_in_parts(conv, part=3)
    assert again.messages_added == 0 and again.messages_total == 7


def test_filters_resolve_in_the_service_too(service):
    service.ingest(ConversationIn(**chat(6)))
    with pytest.raises(Invalid, match="closest: Kate Moreno"):
        service.search(SearchRequest(query="x", author="kat moreno"))
    with pytest.raises(NotFound):
        service.get_conversation("long", around="m99")
    now = datetime(2024, 3, 14, 12, tzinfo=UTC)
    req = SearchRequest(query="item", since="yesterday", until="today", now=now)
    assert (req.since, req.until) == (
        datetime(2024, 3, 13, tzinfo=UTC),
        datetime(2024, 3, 14, 23, 59, 59, 999999, tzinfo=UTC),
    )


def test_an_import_can_stream_its_progress_then_the_result(client):
    lines = "\n".join(
        json.dumps({"id": f"bulk-{i}", "messages": [{"content": f"bulk turn {i}"}, {"content": "another"}]})
        for i in range(5)
    )
    r = client.post(
        "/v1/import",
        files={"files": ("bulk.jsonl", lines.encode(), "application/octet-stream")},
        data={"stream": "true", "format": "json"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [block for block in r.text.replace("\r\n", "\n").split("\n\n") if block.strip()]
    kinds = [b.split("\n")[0].removeprefix("event: ") for b in events]
    assert kinds[-1] == "done" and "progress" in kinds
    progress = json.loads(events[kinds.index("progress")].split("data: ", 1)[1])
    assert set(progress) >= {"conversations", "messages", "messages_per_second", "bytes_done", "bytes_total"}
    done = json.loads(events[-1].split("data: ", 1)[1])
    assert done["conversations"] == 5 and done["messages_added"] == 10 and done["files"][0]["format"] == "json"


def test_both_search_arms_use_the_resolved_author(service):
    """No word in common with the query: only the vector arm can find the turn, under the resolved name."""
    messages = [
        {"id": "a", "author": "Kate Moreno", "content": "I went skiing in Colorado last weekend."},
        {"id": "b", "author": "elise", "content": "Our quarterly budget review is on Friday."},
    ]
    service.ingest(ConversationIn(id="trip", messages=messages))
    hits = service.search(SearchRequest(query="snowy mountain holiday", author="kate", top_k=5)).hits
    assert [h.message_ids for h in hits] == [["a"]]


@pytest.mark.parametrize("zone", ["America", "Mars/Base", "../etc/passwd", "UTC "])
def test_an_unknown_time_zone_is_a_422(client, zone):
    r = client.post("/v1/search", json={"query": "x", "since": "yesterday", "timezone": zone})
    assert r.status_code == 422 and "unknown time zone" in r.json()["detail"]
