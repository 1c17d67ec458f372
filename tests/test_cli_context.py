"""The CLI as a person at a terminal uses it: tables that fit 80 columns, a delete that
asks, a transcript that says where it stopped, filters read loosely, notes."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_rag.models import ConversationIn

MCP_RAG = str(Path(sys.executable).with_name("mcp-rag"))


@pytest.fixture
def env(data_dir) -> dict[str, str]:
    return {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_ENV": "test"}


@pytest.fixture
def run(service, env):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [MCP_RAG, *args], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL
        )

    return run


@pytest.fixture
def stored(service):
    people = ["Kate Moreno", "elise", "Zoë Martin"]
    messages = [
        {
            "id": f"m{i}",
            "author": people[i % 3],
            "content": f"item {i} on the list",
            "timestamp": f"2024-03-{i:02d}T09:00:00Z",
        }
        for i in range(1, 25)
    ]
    title = "A conversation whose title is far too long to fit in a table eighty columns wide, by a lot"
    service.ingest(ConversationIn(id="long-one", title=title, source="slack", messages=messages))
    service.ingest(ConversationIn(id="short", title="Short", messages=[{"author": "Kate Moreno", "content": "hi"}]))


def test_the_conversation_table_fits_80_columns_and_wide_shows_everything(run, stored):
    r = run("conversations", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, r.stdout
    assert any(line.startswith("long-one ") for line in lines) and "…" in r.stdout  # the id whole, the title cut
    wide = run("conversations", "list", "--wide").stdout
    assert "by a lot" in wide and "Zoë Martin" in wide and max(len(line) for line in wide.splitlines()) > 80


def test_delete_refuses_without_a_terminal_unless_yes(run, stored, service):
    r = run("conversations", "delete", "short")
    assert r.returncode == 2 and "pass --yes" in r.stderr
    assert service.get_conversation("short").message_count == 1
    r = run("conversations", "delete", "short", "--yes")
    assert r.returncode == 0 and r.stdout.startswith("deleted ")


def _at_terminal(env: dict[str, str], args: list[str], answer: bytes) -> tuple[int, str]:
    """Run with a pseudo-terminal as stdin/stdout, type `answer`, return exit code and what it showed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([MCP_RAG, *args], stdin=follower, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    shown = b""
    answered = False
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
        if not answered and b"[y/N]" in shown:
            os.write(leader, answer)
            answered = True
    os.close(leader)
    return proc.wait(60), shown.decode(errors="replace")


def test_delete_at_a_terminal_asks_and_no_keeps_it(env, stored, service):
    code, shown = _at_terminal(env, ["conversations", "delete", "short"], b"n\n")
    assert "Delete 'Short' (1 messages)?" in shown and code == 1
    assert service.get_conversation("short").message_count == 1
    code, shown = _at_terminal(env, ["conversations", "delete", "short"], b"y\n")
    assert code == 0 and "deleted" in shown
    assert [c.external_id for c in service.list_conversations().items] == ["long-one"]


def test_show_says_where_it_stopped_and_pages_with_all_or_around(run, stored):
    r = run("conversations", "show", "long-one", "--limit", "5")
    assert r.stdout.count("[m") == 5
    assert "showed messages 1-5 of 24; next: --offset 5, everything: --all" in r.stderr
    r = run("conversations", "show", "long-one", "--limit", "5", "--all")
    assert "[m24]" in r.stdout and "showed" not in r.stderr
    r = run("conversations", "show", "long-one", "--around", "m12", "--before", "1", "--after", "1")
    assert [line.split("]")[0] for line in r.stdout.splitlines()[1:]] == ["[m11", "[m12", "[m13"]
    assert "showed messages 11-13 of 24" in r.stderr


def test_search_reads_names_and_times_loosely_and_says_how(run, stored):
    r = run("search", "item on the list", "--author", "zoe", "--since", "in March 2024", "--until", "March 10 2024")
    assert r.returncode == 0, r.stderr
    assert (
        "filters: author Zoë Martin, since 2024-03-01T00:00:00+00:00, until 2024-03-10T23:59:59.999999+00:00"
        in r.stderr
    )
    assert "Zoë Martin" in r.stdout and "of 24)" in r.stdout
    assert "context: mcp-rag conversations show long-one --around m" in r.stderr
    r = run("search", "item", "--author", "Katie")
    assert r.returncode == 1 and "no participant matches 'Katie'" in r.stderr and "Kate Moreno" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("search", "item", "--since", "when pigs fly")
    assert r.returncode == 2 and "could not read" in r.stderr


def test_remember_keeps_a_note_that_search_finds(run):
    r = run("remember", "The wifi password is on the fridge", "--author", "Kim")
    assert r.returncode == 0 and "remembered as message 1 of notes" in r.stdout
    r = run("search", "where is the wifi password", "--json")
    assert '"conversation_external_id": "notes"' in r.stdout and "Kim" in r.stdout
