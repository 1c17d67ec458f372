"""`mcp-rag mcp` as Claude Desktop, Cursor or Codex run it: a subprocess spoken
to over stdin/stdout, sharing the embedded database with the test session."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import psutil
import pytest
from mcp import Client, StdioServerParameters
from mcp_scenario import (
    SKI_TRIP,
    TOOLS,
    a_call_stops_in_time_and_the_next_one_resumes,
    a_large_ingest_reports_progress,
    a_note_is_remembered_and_found,
    an_assistant_reads_the_turns_around_a_hit,
    an_assistant_stores_finds_reads_and_forgets_a_conversation,
    author_and_source_filters_forgive_case_accents_and_handles,
    mistakes_come_back_as_tool_errors_the_model_can_fix,
    search_replies_are_compact_unless_detail_is_asked,
    the_server_introduces_itself_with_annotated_tools,
    times_in_words_are_resolved_and_echoed,
)

MCP_RAG = str(Path(sys.executable).with_name("mcp-rag"))


@pytest.fixture
def env(service, data_dir) -> dict[str, str]:
    """A clean database (the `service` fixture) that the subprocess reaches through the data dir."""
    return {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_ENV": "test"}


def drive(env: dict[str, str], *scenarios) -> None:
    async def main() -> None:
        params = StdioServerParameters(command=MCP_RAG, args=["mcp"], env=env)
        async with Client(params, mode="legacy", read_timeout_seconds=120) as client:
            for scenario in scenarios:
                await scenario(client)

    anyio.run(main)


def test_stdio_server_lists_annotated_tools_and_the_conversation_resource(env):
    drive(env, the_server_introduces_itself_with_annotated_tools)


def test_stdio_assistant_stores_searches_reads_and_deletes(env):
    drive(env, an_assistant_stores_finds_reads_and_forgets_a_conversation)


def test_stdio_bad_arguments_and_unknown_ids_are_tool_errors(env):
    drive(env, mistakes_come_back_as_tool_errors_the_model_can_fix)


def test_stdio_reads_around_a_hit_with_positions(env):
    drive(env, an_assistant_reads_the_turns_around_a_hit)


def test_stdio_author_filters_forgive_and_a_miss_names_the_closest(env, service):
    drive(env, author_and_source_filters_forgive_case_accents_and_handles)


def test_stdio_times_in_words(env, service):
    drive(env, times_in_words_are_resolved_and_echoed)


def test_stdio_large_ingest_sends_progress(env, service):
    drive({**env, "MCP_RAG_MCP_PART_MESSAGES": "20"}, a_large_ingest_reports_progress)


def test_stdio_a_long_ingest_stops_within_the_call_budget_and_resumes(env, service):
    drive(
        {**env, "MCP_RAG_MCP_CALL_SECONDS": "0.001", "MCP_RAG_MCP_PART_MESSAGES": "20"},
        a_call_stops_in_time_and_the_next_one_resumes,
    )


def test_stdio_search_is_compact_by_default(env, service):
    drive(env, search_replies_are_compact_unless_detail_is_asked)


def test_stdio_remember_keeps_a_searchable_note(env, service):
    drive(env, a_note_is_remembered_and_found)


def rpc(id: int, method: str, params: dict | None = None) -> dict:
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": params or {}}


INITIALIZE = rpc(
    0,
    "initialize",
    {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw-test", "version": "0"}},
)
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


class RawSession:
    """A fresh `mcp-rag mcp` spoken to in raw JSON-RPC lines, one request at a time,
    keeping every byte it writes to stdout so the test can check them all."""

    def __init__(self, env: dict[str, str], stderr):
        self.proc = subprocess.Popen(
            [MCP_RAG, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
        )
        self.stdout_lines: list[str] = []

    def send(self, message: dict) -> None:
        self.send_line(json.dumps(message))

    def send_line(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def request(self, message: dict, timeout: float = 120) -> dict:
        self.send(message)
        return self.reply(message["id"], timeout)

    def reply(self, request_id: int | str | None, timeout: float = 30) -> dict:
        """The next message answering `request_id` (None: an error the server could not tie to a request)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"server closed stdout; exit code {self.proc.wait(10)}")
            self.stdout_lines.append(line)
            reply = json.loads(line)  # every line is a JSON-RPC message, or this raises
            if "id" in reply and reply["id"] == request_id:
                return reply
        raise AssertionError(f"no reply to request {request_id!r} within {timeout}s")

    def close(self) -> int:
        self.proc.stdin.close()
        rest = self.proc.stdout.read()
        self.stdout_lines.extend(rest.splitlines(keepends=True))
        return self.proc.wait(30)


@pytest.fixture
def raw(tmp_path):
    sessions = []

    def start(env: dict[str, str]) -> RawSession:
        session = RawSession(env, (tmp_path / f"stderr-{len(sessions)}.log").open("w"))
        sessions.append(session)
        session.request(INITIALIZE)
        session.send(INITIALIZED)
        return session

    yield start
    for session in sessions:
        if session.proc.poll() is None:
            session.proc.kill()
            session.proc.wait(10)


def test_stdout_carries_only_protocol_messages_while_the_database_and_model_start(env, raw, tmp_path):
    session = raw(env)
    ingested = session.request(rpc(1, "tools/call", {"name": "ingest_conversation", "arguments": SKI_TRIP}))
    assert ingested["result"]["structuredContent"]["messages_added"] == 3
    found = session.request(rpc(2, "tools/call", {"name": "search_conversations", "arguments": {"query": "Colorado"}}))
    assert found["result"]["structuredContent"]["hits"][0]["message_ids"][0] == "m1"
    missing = session.request(rpc(3, "tools/call", {"name": "get_conversation", "arguments": {"conversation_id": "x"}}))
    assert missing["result"]["isError"] is True
    bad = session.request(
        rpc(4, "tools/call", {"name": "search_conversations", "arguments": {"query": 42, "top_k": "many"}})
    )
    assert bad["result"]["isError"] is True
    unknown_method = session.request(rpc(5, "no/such/method"))
    assert unknown_method["error"]["code"] == -32601  # a protocol error, not a crash
    assert session.close() == 0

    stdout = "".join(session.stdout_lines)
    messages = [json.loads(line) for line in stdout.splitlines()]
    assert all(m["jsonrpc"] == "2.0" for m in messages)
    assert [m["id"] for m in messages if "id" in m] == [0, 1, 2, 3, 4, 5]
    stderr = (tmp_path / "stderr-0.log").read_text()
    assert "Traceback" not in stderr


def test_every_line_gets_an_answer_even_one_the_sdk_cannot_read(env, raw, tmp_path):
    # A JavaScript client that cuts a string in the middle of an emoji sends a lone
    # surrogate; the SDK's reader rejects the line and would drop it, leaving the client
    # to its timeout. Each line below is answered at once, and the session goes on.
    session = raw(env)
    search = rpc(7, "tools/call", {"name": "search_conversations", "arguments": {"query": "ski @"}})
    session.send_line(json.dumps(search).replace("@", "\\ud83c"))  # the first half of a skier
    surrogate = session.reply(7)["error"]
    assert surrogate["code"] == -32600 and "lone UTF-16 surrogate" in surrogate["message"]
    session.send_line("this is not JSON")
    assert session.reply(None)["error"]["code"] == -32700
    session.send_line('{"jsonrpc":"2.0","id":8,"method":"ping"')  # truncated
    assert session.reply(None)["error"]["code"] == -32700
    session.send_line('{"jsonrpc":"1.0","id":9,"method":"ping"}')
    assert session.reply(None)["error"]["code"] == -32600
    # An unreadable notification is dropped: no reply is owed.
    session.send_line('{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"reason":"\\udc00"}}')
    assert session.request(rpc(10, "ping"))["result"] == {}
    assert session.close() == 0
    replies = [json.loads(line) for line in session.stdout_lines]
    assert [r["id"] for r in replies] == [0, 7, None, None, None, 10]
    assert "Traceback" not in (tmp_path / "stderr-0.log").read_text()


def _postmaster(data_dir: Path) -> psutil.Process:
    return psutil.Process(int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0]))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_server_at_once_and_stops_the_database_it_started(raw, signum):
    # MCP clients shut a stdio server down by closing stdin, then SIGTERM, then SIGKILL.
    # The embedded PostgreSQL runs in its own session, out of reach of a kill of the
    # client's process group: the server must stop it when it is the last one using it.
    data_dir = Path(tempfile.mkdtemp(prefix="mcp-rag-stdio-"))  # its own database, as a fresh install has
    try:
        session = raw({**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_ENV": "test"})
        listed = session.request(rpc(1, "tools/call", {"name": "list_conversations", "arguments": {}}))
        assert listed["result"]["isError"] is False
        postmaster = _postmaster(data_dir)
        session.proc.send_signal(signum)
        assert session.proc.wait(15) == (0 if signum == signal.SIGTERM else 128 + signum)
        postmaster.wait(15)  # raises TimeoutExpired if it outlives us
        assert not (data_dir / "pgdata" / "postmaster.pid").exists()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_initialize_and_tools_list_never_wait_for_the_database(env, raw):
    # An unreachable database: the handshake and the tool list still answer, and a
    # tool that needs the database fails as a tool error instead of killing the server.
    session = raw({**env, "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"})
    assert len(session.request(rpc(1, "tools/list"))["result"]["tools"]) == len(TOOLS)
    failed = session.request(rpc(2, "tools/call", {"name": "list_conversations", "arguments": {}}))["result"]
    assert failed["isError"] is True
    assert "Service unavailable: database unreachable" in failed["content"][0]["text"]
    assert len(session.request(rpc(3, "tools/list"))["result"]["tools"]) == len(TOOLS)
    assert session.close() == 0


def test_a_data_dir_that_cannot_be_made_is_named_in_the_tool_error(env, raw, tmp_path):
    (tmp_path / "a-file").write_text("")
    session = raw({**env, "MCP_RAG_DATA_DIR": str(tmp_path / "a-file" / "data")})
    failed = session.request(rpc(1, "tools/call", {"name": "list_conversations", "arguments": {}}))["result"]
    assert failed["isError"] is True
    assert f"cannot create the data directory {tmp_path / 'a-file' / 'data'}" in failed["content"][0]["text"]
    assert session.close() == 0


# What the `initialize` answer must not wait for: the database, the embedding model, the
# REST app, our service layer, and the CLI's progress bars and tables. The SDK itself
# brings starlette, uvicorn and opentelemetry's API; those are its floor, not ours.
NOT_ON_THE_HANDSHAKE_PATH = (
    "sqlalchemy",
    "psycopg",
    "onnxruntime",
    "numpy",
    "tokenizers",
    "fastapi",
    "prometheus_client",
    "opentelemetry.sdk",
    "yaml",
    "rich.progress",
    "rich.table",
    "mcp_rag.service",
    "mcp_rag.store",
    "mcp_rag.embed",
    "mcp_rag.api",
    "mcp_rag.auth",
    "mcp_rag.metrics",
    "mcp_rag.tracing",
)

LIST_MODULES_AT_EXIT = """
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["MODULES_OUT"], "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["mcp-rag", "mcp"]
from mcp_rag.cli import main
main()
"""


def test_the_handshake_imports_no_database_model_or_web_app(tmp_path):
    # `mcp-rag mcp` as the console script runs it, started in a folder with no config/ (as
    # MCP clients start it), asked to initialize and then closed: every module it imported
    # by then is listed when it exits.
    out = tmp_path / "modules.json"
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(tmp_path / "data"), "MCP_RAG_ENV": "test", "MODULES_OUT": str(out)}
    done = subprocess.run(
        [sys.executable, "-c", LIST_MODULES_AT_EXIT],
        input=json.dumps(INITIALIZE) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["result"]["serverInfo"]["name"] == "mcp-rag"
    modules = json.loads(out.read_text())
    assert "mcp_rag.mcp" in modules  # the hook saw the real server
    loaded = [m for m in modules if any(m == p or m.startswith(p + ".") for p in NOT_ON_THE_HANDSHAKE_PATH)]
    assert loaded == []
