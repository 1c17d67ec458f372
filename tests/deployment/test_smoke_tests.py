"""smoke-tests.sh against a real local `mcp-rag serve` (embedded PostgreSQL in a temp data dir)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_tools import SCRIPTS, VENV_BIN, postgres_data_parent, require_tool, run, tool_env

SCRIPT = SCRIPTS / "smoke-tests.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with postgres_data_parent() as data_dir:
        yield from _serve(data_dir)


def _serve(data_dir: Path) -> Iterator[str]:
    mcp_rag = require_tool("mcp-rag")
    port = free_port()
    log = (data_dir / "server.log").open("w")
    env = tool_env() | {
        "MCP_RAG_ENV": "test",
        "MCP_RAG_DATA_DIR": str(data_dir),
        "MCP_RAG_HOST": "127.0.0.1",
        "MCP_RAG_PORT": str(port),
    }
    for name in ("DATABASE_URL", "MCP_RAG_DATABASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        env.pop(name, None)  # embedded database, offline answers
    proc = subprocess.Popen([mcp_rag, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # embedded PostgreSQL start + migrations, on a busy machine
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mcp-rag serve did not start:\n{(data_dir / 'server.log').read_text()}")
                time.sleep(0.3)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and anything it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        stop_embedded_postgres(data_dir / "pgdata")


def stop_embedded_postgres(pgdata: Path) -> None:
    """Stop the embedded PostgreSQL the server started in its data dir.

    `mcp-rag serve` leaves it running after SIGTERM (seen with the current
    product; postgres runs in its own session, so killing the server's process
    group does not reach it). Fast shutdown of exactly that postmaster.
    """
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def test_smoke_tests_pass_against_a_running_server(server: str, tmp_path: Path):
    # Generous per-request timeout: the first /v1/ask loads the embedding model, slow on a busy machine.
    env = tool_env() | {"TMPDIR": str(tmp_path), "SMOKE_TIMEOUT": "120"}
    result = run(["bash", str(SCRIPT), server], timeout=300, env=env)

    assert result.returncode == 0, result.stderr
    for check in (
        "GET /health",
        "GET /ready",
        "GET /version",
        "POST /v1/conversations",
        "GET /v1/search",
        "POST /v1/ask",
    ):
        assert f"ok   {check}" in result.stderr
    assert "all 7 checks passed" in result.stderr
    assert not list(tmp_path.iterdir())  # its temp files are gone


def test_smoke_tests_leave_no_conversation_behind(server: str):
    run(["bash", str(SCRIPT), server], timeout=300, env=tool_env() | {"SMOKE_TIMEOUT": "120"})
    # All conversations, not ?source=smoke-test: a source that matches nothing is a 422 naming the closest.
    with urllib.request.urlopen(f"{server}/v1/conversations?limit=1000", timeout=10) as response:
        assert b'"smoke-test-' not in response.read()


def test_smoke_tests_fail_when_nothing_answers():
    port = free_port()
    result = run(
        ["bash", str(SCRIPT), f"http://127.0.0.1:{port}"],
        env=tool_env() | {"SMOKE_READY_WAIT": "0", "SMOKE_TIMEOUT": "2"},
        timeout=60,
    )
    assert result.returncode == 1
    assert "FAIL GET /health" in result.stderr


def test_unknown_target_is_a_usage_error():
    result = run(["bash", str(SCRIPT), "prod"])
    assert result.returncode == 2
    assert "neither dev/staging/production nor an http(s) URL" in result.stderr


def test_venv_has_the_cli():
    assert (VENV_BIN / "mcp-rag").exists(), "mcp-rag is not installed in the virtualenv: pip install -e ."
