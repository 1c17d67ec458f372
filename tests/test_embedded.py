"""The embedded PostgreSQL takes its shared_buffers from our settings (ALTER SYSTEM, next start)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHOW = (
    "from sqlalchemy import text\n"
    "from mcp_rag.config import load_settings\n"
    "from mcp_rag.service import Service\n"
    "service = Service(load_settings())\n"
    "with service.engine.connect() as c:\n"
    "    print(c.execute(text('SHOW shared_buffers')).scalar())\n"
    "service.close()\n"
)


def test_shared_buffers_setting_applies_from_the_next_start():
    # Not pytest's tmp_path: the embedded server runs as its own user (see conftest).
    data_dir = Path(tempfile.mkdtemp(prefix="mcp-rag-buffers-"))
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_EMBEDDED_SHARED_BUFFERS": "160MB"}
    try:
        # Each process starts the embedded server and stops it when it leaves (it is the last user).
        runs = [subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, timeout=180)]
        runs.append(subprocess.run([sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, timeout=180))
        assert all(r.returncode == 0 for r in runs), [r.stderr[-1500:] for r in runs]
        first, second = (r.stdout.strip() for r in runs)
        assert first != "160MB"  # a new cluster starts on the wheel's default
        assert second == "160MB"
    finally:
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
    watchdog.watch(tmp_path, poll_s=0.01)  # no postmaster.pid: nothing to watch
    with (tmp_path / watchdog.LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert watchdog._watched(tmp_path)
        assert watchdog.main(["watchdog", str(tmp_path)]) == 0  # another holds the lock: leaves
    assert not watchdog._watched(tmp_path)
    assert time.monotonic() - started < 5


def test_the_watchdog_never_signals_a_process_a_stale_postmaster_pid_names(tmp_path):
    from mcp_rag.store import watchdog

    (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n{tmp_path}\n")  # pid reused: this test process
    (tmp_path / ".handle_pids.json").write_text("[]")  # and no live user

    watchdog.watch(tmp_path, poll_s=0.01)  # returns at once: no postgres of this data dir runs
