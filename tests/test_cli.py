"""The `mcp-rag` command as a user runs it: a subprocess sharing the embedded database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from server import Server

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(str(p) for p in (ROOT / "examples").glob("*.json*"))
MCP_RAG = str(Path(sys.executable).with_name("mcp-rag"))


@pytest.fixture
def run(service, data_dir):
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_ENV": "test"}

    def run(*args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [MCP_RAG, *args], capture_output=True, text=True, timeout=120, env={**env, **(extra_env or {})}
        )

    return run


def test_ingest_search_list_show_delete(run, tmp_path):
    r = run("ingest", *EXAMPLES)
    assert r.returncode == 0, r.stderr
    assert "3 of 3 conversations ingested (3 new)" in r.stdout

    r = run("search", "when is Kate going skiing", "--top-k", "2", "--json")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)["hits"]
    assert hits[0]["conversation_external_id"] == "ski-trip-2024"

    r = run("conversations", "list", "--json")
    assert {c["external_id"] for c in json.loads(r.stdout)["items"]} == {"ski-trip-2024", "ticket-8812", "ticket-8813"}
    # The table fits 80 columns by cutting titles, never ids (no "ski-…").
    r = run("conversations", "list")
    lines = r.stdout.splitlines()
    assert all(
        any(line.startswith(f"{name} ") for line in lines) for name in ("ski-trip-2024", "ticket-8812", "ticket-8813")
    )

    r = run("conversations", "show", "ticket-8812")
    assert r.returncode == 0 and "charged twice" in r.stdout

    r = run("conversations", "delete", "ticket-8812", "--yes")
    assert r.returncode == 0
    r = run("conversations", "show", "ticket-8812")
    assert r.returncode == 1 and "not found" in r.stderr and "Traceback" not in r.stderr


def test_ingest_reports_bad_records_and_exits_non_zero(run, tmp_path):
    bad = tmp_path / "mixed.jsonl"
    bad.write_text(
        json.dumps({"id": "good", "messages": [{"content": "fine"}]})
        + "\n{broken json\n"
        + json.dumps({"id": "empty", "messages": [{"content": " "}]})
        + "\n"
    )
    r = run("ingest", str(bad))
    assert r.returncode == 1
    assert "1 of 3 conversations ingested" in r.stdout
    assert f"{bad}:2: not valid JSON" in r.stderr
    assert f"{bad}:3: messages.0.content" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("conversations", "show", "good")
    assert r.returncode == 0


def test_missing_file_and_bad_setting_exit_2_with_one_line(run):
    r = run("ingest", "/no/such/file.json")
    assert r.returncode == 2 and "no such file" in r.stderr
    r = run("db", "status", extra_env={"MCP_RAG_CHUNK_MAX_WORDS": "many"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "mcp-rag: invalid setting MCP_RAG_CHUNK_MAX_WORDS: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_a_data_dir_that_cannot_be_made_is_one_line_and_exit_3(run, tmp_path):
    (tmp_path / "a-file").write_text("")
    r = run("search", "skiing", extra_env={"MCP_RAG_DATA_DIR": str(tmp_path / "a-file" / "data")})
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"mcp-rag: cannot create the data directory {tmp_path / 'a-file' / 'data'} (Not a directory); "
        "set MCP_RAG_DATA_DIR to a folder this user can write"
    ]


def test_db_status_and_migrate(run):
    r = run("migrate")
    assert r.returncode == 0 and "schema at revision " in r.stdout
    status = json.loads(run("db", "status", "--json").stdout)
    assert status["schema_revision"] == status["schema_head"]


def test_db_compact_rewrites_the_chunk_tables_and_refuses_a_bad_size(run, service):
    from builders import make_conversation

    service.ingest(make_conversation())
    r = run("db", "compact")
    assert r.returncode == 0, r.stderr
    assert "compacted in " in r.stdout and "maintenance_work_mem 64MB" in r.stdout
    assert "rewriting chunks" in r.stderr
    r = run("db", "compact", "--memory", "lots")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    # Refused before anything starts: the one line says why, none says it is rewriting.
    assert "memory must be a PostgreSQL size" in r.stderr and "rewriting" not in r.stderr
    r = run("search", "skiing", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["hits"], r.stderr


def test_serve_on_a_port_in_use_is_one_line_and_exit_2(run):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        r = run("serve", "--port", str(port))
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot serve on 127.0.0.1:{port}: Address already in use"), r.stderr
    assert "Traceback" not in r.stderr and "terminate called" not in r.stderr


def test_serve_answers_rest_on_a_real_port(run, data_dir):
    server = Server(data_dir).wait_ready()
    try:
        # The query model is loaded at start, not by the first search.
        deadline = time.monotonic() + 60
        while "query model ready in" not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "query model ready in" in server.log.read_text()
        body = json.loads((ROOT / "examples/ski-trip.json").read_text())
        assert httpx.post(f"{server.url}/v1/conversations", json=body).status_code == 201
        r = httpx.post(f"{server.url}/v1/search", json={"query": "skiing", "top_k": 5})
        assert r.json()["hits"][0]["message_ids"][0] == "1"
    finally:
        server.stop()


def test_reindex_windows_writes_the_window_arms_windows_without_re_embedding(run, service):
    from builders import make_conversation
    from sqlalchemy import text

    service.ingest(make_conversation("grow", [{"id": f"m{i}", "content": f"turn {i}"} for i in range(1, 9)]))
    with service.engine.begin() as conn:
        embeddings = conn.execute(text("SELECT id, embedding::text FROM chunks ORDER BY id")).all()
        conn.execute(text("DELETE FROM chunk_windows"))
    r = run("reindex", "--windows")
    assert r.returncode == 0 and "wrote 2 windows" in r.stdout, r.stderr  # turns 1-6 and 4-8
    with service.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM chunk_windows")).scalar_one() == 2
        assert conn.execute(text("SELECT id, embedding::text FROM chunks ORDER BY id")).all() == embeddings
    r = run("reindex", "--windows", extra_env={"MCP_RAG_WINDOW_ARM": "false"})
    assert r.returncode != 0 and "window arm is off" in r.stderr and "Traceback" not in r.stderr
