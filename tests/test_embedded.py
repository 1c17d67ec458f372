"""The embedded PostgreSQL takes its server settings from ours (ALTER SYSTEM; a new cluster
is restarted once so that its first session runs with them, an existing one applies them
from its next start)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mcp_rag.config import load_settings
from mcp_rag.store import db, pool

SHOW = (
    "from sqlalchemy import text\n"
    "from mcp_rag.config import load_settings\n"
    "from mcp_rag.service import Service\n"
    "service = Service(load_settings())\n"
    "with service.engine.connect() as c:\n"
    "    print(c.execute(text('SHOW shared_buffers')).scalar(), c.execute(text('SHOW io_method')).scalar())\n"
    "service.close()\n"
)


def _show(env: dict[str, str]) -> list[str]:
    """shared_buffers and io_method as a new process sees them (it starts the embedded
    server and, the last user, stops it when it leaves)."""
    r = subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-1500:]
    return r.stdout.split()


def test_settings_apply_from_the_first_session_then_from_the_next_start():
    # Not pytest's tmp_path: the embedded server runs as its own user (see conftest).
    data_dir = Path(tempfile.mkdtemp(prefix="mcp-rag-buffers-"))
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_EMBEDDED_SHARED_BUFFERS": "160MB"}
    try:
        assert _show(env) == ["160MB", "sync"]  # a new cluster: the lean profile from the start
        speed = {**env, "MCP_RAG_MEMORY_PROFILE": "speed", "MCP_RAG_EMBEDDED_SHARED_BUFFERS": "auto"}
        assert _show(speed) == ["160MB", "sync"]  # written now, applied from the next start
        assert _show(speed) == ["256MB", "worker"]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.mark.parametrize(
    ("data_mb", "profile", "setting", "expected"),
    [
        (0, "lean", "auto", "32MB"),  # before initdb
        (90, "lean", "auto", "128MB"),  # the data's size, rounded up to a power of two
        (5000, "lean", "auto", "256MB"),
        (0, "speed", "auto", "256MB"),
        (0, "lean", "1GB", "1GB"),  # an explicit size wins
    ],
)
def test_shared_buffers_follow_the_data_size(tmp_path: Path, data_mb: int, profile: str, setting: str, expected: str):
    (tmp_path / "pgdata" / "base" / "5").mkdir(parents=True)
    with (tmp_path / "pgdata" / "base" / "5" / "16384").open("wb") as fh:
        fh.truncate(data_mb << 20)  # sparse: its size is what counts
    settings = load_settings(data_dir=tmp_path, memory_profile=profile, embedded_shared_buffers=setting)
    conf = db.embedded_settings(settings)
    assert conf["shared_buffers"] == expected
    assert conf["io_method"] == ("sync" if profile == "lean" else "worker")


SLOTS = (
    "max_connections",
    "autovacuum_worker_slots",
    "io_max_concurrency",
    "shared_memory_size",
)


def test_the_lean_server_has_connection_slots_for_the_pool_and_no_idle_process_slots():
    data_dir = Path(tempfile.mkdtemp(prefix="mcp-rag-slots-"))
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_DB_POOL_SIZE": "4"}
    show = SHOW.replace("SHOW shared_buffers", "SHOW max_connections").replace(
        "print(c.execute(text('SHOW max_connections')).scalar(), c.execute(text('SHOW io_method')).scalar())",
        f"print(*(c.execute(text(f'SHOW {{name}}')).scalar() for name in {SLOTS!r}))",
    )
    try:
        r = subprocess.run([sys.executable, "-c", show], env=env, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr[-1500:]
        connections, autovacuum, io_handles, shared_mb = r.stdout.split()
        assert int(connections) == db.pool_limit(4) + db.OTHER_CLIENTS == 28  # the pool, its overflow, the others
        assert (autovacuum, io_handles) == ("3", "4")
        assert int(shared_mb.removesuffix("MB")) < 45  # 32MB of buffers; 45MB with PostgreSQL's defaults
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_the_speed_profile_keeps_postgresql_s_process_slots_unless_the_pool_needs_more(tmp_path: Path):
    speed = db.embedded_settings(load_settings(data_dir=tmp_path, memory_profile="speed"))
    assert (speed["max_connections"], speed["io_max_concurrency"]) == ("100", "-1")
    wide = db.embedded_settings(load_settings(data_dir=tmp_path, memory_profile="speed", db_pool_size=40))
    assert wide["max_connections"] == str(40 * 3 + db.OTHER_CLIENTS)


HOLD = (
    "import sys\n"
    "from sqlalchemy import text\n"
    "from mcp_rag.config import load_settings\n"
    "from mcp_rag.service import Service\n"
    "service = Service(load_settings())\n"
    "with service.engine.connect() as c:\n"
    "    c.execute(text('SELECT 1'))\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
    "service.close()\n"
)


def test_a_process_that_finds_every_connection_slot_taken_waits_for_one():
    """Other local processes hold every slot (the server admits the pool and OTHER_CLIENTS
    more): a CLI command started then waits, and succeeds once one is free."""
    import psycopg

    data_dir = Path(tempfile.mkdtemp(prefix="mcp-rag-full-"))
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_DB_POOL_SIZE": "1"}
    holder = subprocess.Popen([sys.executable, "-c", HOLD], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    taken: list[psycopg.Connection] = []
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ready"
        pid = (data_dir / "pgdata" / "postmaster.pid").read_text().split("\n")
        target = {"host": pid[4], "port": pid[3], "user": "postgres", "dbname": "postgres"}
        while True:
            try:
                taken.append(psycopg.connect(**target))
            except psycopg.OperationalError as exc:
                assert pool.too_many_clients(str(exc)), exc
                break
        assert len(taken) < db.pool_limit(1) + db.OTHER_CLIENTS  # the holder's connection has one slot
        command = subprocess.Popen(
            [str(Path(sys.executable).with_name("mcp-rag")), "db", "status"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)  # it starts, finds no slot and waits
        assert command.poll() is None
        for conn in taken[:3]:  # its psql, its pool's connection, one spare
            conn.close()
        out, errors = command.communicate(timeout=60)
        assert command.returncode == 0, errors[-1500:]
    finally:
        for conn in taken:
            conn.close()
        holder.communicate(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_a_malformed_shared_buffers_setting_is_a_config_error():
    env = {**os.environ, "MCP_RAG_EMBEDDED_SHARED_BUFFERS": "lots; DROP TABLE chunks"}
    r = subprocess.run(
        [str(Path(sys.executable).with_name("mcp-rag")), "db", "status"], env=env, capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "MCP_RAG_EMBEDDED_SHARED_BUFFERS" in r.stderr and "Traceback" not in r.stderr


def test_the_watchdog_leaves_at_once_when_another_watches_or_no_server_runs(tmp_path):
    import fcntl

    from mcp_rag.store import watchdog

    started = time.monotonic()
    server_lock = tmp_path / "server.lock"
    watchdog.watch(tmp_path, server_lock, poll_s=0.01)  # no postmaster.pid: nothing to watch
    with (tmp_path / watchdog.LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert watchdog._watched(tmp_path)
        assert watchdog.main(["watchdog", str(tmp_path), str(server_lock)]) == 0  # another holds the lock: leaves
    assert not watchdog._watched(tmp_path)
    assert time.monotonic() - started < 5


def test_the_watchdog_never_signals_a_process_a_stale_postmaster_pid_names(tmp_path):
    from mcp_rag.store import watchdog

    (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n{tmp_path}\n")  # pid reused: this test process
    (tmp_path / ".handle_pids.json").write_text("[]")  # and no live user

    watchdog.watch(tmp_path, tmp_path / "server.lock", poll_s=0.01)  # returns at once: no postgres of ours runs
