"""`mcp-rag backup` / `mcp-rag restore` as a user runs them, on the shared embedded database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import test_chunk_bits

from mcp_rag.models import ConversationIn, SearchRequest
from mcp_rag.service import Service

MCP_RAG = str(Path(sys.executable).with_name("mcp-rag"))


def conversation(n: int) -> ConversationIn:
    return ConversationIn.model_validate(
        {
            "id": f"backup-{n}",
            "title": f"Backup {n}",
            "metadata": {"n": n, "nested": {"ok": [1, 2, 3]}},
            "messages": [
                {"id": "a", "author": "Ana", "content": f"Trip {n}: we land in Lisbon at {n}.", "metadata": {"k": n}},
                {"id": "b", "author": "Ben", "content": "Great, I will book the hotel near the river."},
            ],
        }
    )


def snapshot(service: Service) -> dict:
    ids = [c.external_id for c in service.list_conversations(limit=1000).items]
    turns = {cid: service.get_conversation(cid).messages for cid in ids}
    return {cid: [(m.id, m.author, m.content, m.metadata) for m in messages] for cid, messages in turns.items()}


@pytest.fixture
def run(service, data_dir):
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_ENV": "test"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([MCP_RAG, *args], capture_output=True, text=True, timeout=300, env=env)

    return run


def test_backup_then_restore_brings_back_exactly_the_backed_up_conversations(service, run, tmp_path):
    for n in range(3):
        service.ingest(conversation(n))
    before = snapshot(service)
    archive = tmp_path / "mcp-rag.dump"

    r = run("backup", str(archive))
    assert r.returncode == 0, r.stderr
    assert "backed up 3 conversations" in r.stdout
    assert archive.stat().st_size > 0
    assert not list(tmp_path.glob("*.partial")), "no partial archive is left behind"

    service.delete_conversation("backup-0")
    service.ingest(conversation(99))
    r = run("restore", str(archive))
    assert r.returncode == 1, r.stdout
    assert "holds 3 conversations; pass --force" in r.stderr and "Traceback" not in r.stderr
    assert set(snapshot(service)) == {"backup-1", "backup-2", "backup-99"}, "a refused restore changes nothing"

    r = run("restore", "--force", str(archive))
    assert r.returncode == 0, r.stderr
    assert "restored 3 conversations" in r.stdout
    assert snapshot(service) == before
    hits = service.search(SearchRequest(query="when do we land in Lisbon", top_k=3)).hits
    assert hits and hits[0].conversation_external_id.startswith("backup-"), "vectors and text index came back"
    service.ingest(conversation(7))  # the restored schema takes writes
    assert len(snapshot(service)) == 4
    with service.engine.begin() as conn:  # the triggers came back with the data, not before it
        assert test_chunk_bits.mismatches(conn) == 0
        assert test_chunk_bits.counted_participants(conn) == test_chunk_bits.stored_participants(conn)


def test_backup_does_not_overwrite_an_existing_file_without_force(service, run, tmp_path):
    service.ingest(conversation(1))
    archive = tmp_path / "keep.dump"
    archive.write_bytes(b"precious")
    r = run("backup", str(archive))
    assert r.returncode == 1
    assert "exists; pass --force" in r.stderr and "Traceback" not in r.stderr
    assert archive.read_bytes() == b"precious"
    r = run("backup", "--force", str(archive))
    assert r.returncode == 0, r.stderr
    assert archive.read_bytes().startswith(b"PGDMP")


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such backup file"), (b"not an archive at all\n", "not a pg_dump custom-format archive")],
)
def test_restore_of_a_missing_or_foreign_file_is_refused_and_changes_nothing(service, run, tmp_path, content, message):
    service.ingest(conversation(1))
    path = tmp_path / "bogus.dump"
    if content is not None:
        path.write_bytes(content)
    r = run("restore", "--force", str(path))
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr
    assert set(snapshot(service)) == {"backup-1"}


def test_backup_into_a_missing_directory_is_a_clear_error(service, run, tmp_path):
    r = run("backup", str(tmp_path / "nowhere" / "x.dump"))
    assert r.returncode == 1
    assert "no such directory" in r.stderr and "Traceback" not in r.stderr
