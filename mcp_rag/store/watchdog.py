"""Stops an embedded PostgreSQL that no live mcp-rag process uses any more.

The wheel stops the server when its last user exits normally; a user killed
with SIGKILL (or by the OOM killer) never gets there, and the server would run
on with no owner. One watchdog per data dir (a file lock says which) checks the
wheel's list of users every few seconds, under the wheel's own lock, and stops
the server fast (open sessions ended, nothing lost: every commit is on disk)
once none of them is alive. It exits when the server is gone.

It lives as long as the server, beside it: it runs as a bare script on the
standard library alone (`python -I -S watchdog.py <pgdata> <wheel's lock file>`,
no site-packages, not even this package's __init__), ~5 MiB PSS instead of the
~20 of an interpreter with psutil and the wheel imported. Processes are read
from /proc (from `ps` where there is none).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import time

POLL_S = 2.0
STOP_WAIT_S = 5.0
LOCK = ".watchdog.lock"


def spawn(pgdata: os.PathLike[str] | str, server_lock: os.PathLike[str] | str) -> None:
    """Start a watchdog for `pgdata` in its own session (it outlives this process), unless one
    holds the data dir's lock already (two racing here: the second sees the lock and leaves).
    `server_lock` is the wheel's inter-process lock file (`PostgresServer.lock_path`)."""
    if _watched(pgdata):
        return
    import subprocess
    import threading

    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", os.path.abspath(__file__), os.fspath(pgdata), os.fspath(server_lock)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    threading.Thread(target=proc.wait, name="watchdog-reaper", daemon=True).start()


def _watched(pgdata: os.PathLike[str] | str) -> bool:
    try:
        with open(os.path.join(pgdata, LOCK), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    return False


def _process(pid: int) -> tuple[str, bool, list[str]] | None:
    """(name, is a zombie, command line) of a process, None when there is none."""
    if os.path.isdir("/proc/self"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().decode(errors="replace").split("\0")
        except OSError:
            return None
        # "pid (name) state ...": the name may itself hold spaces and parentheses.
        name, state = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :][:1]
        return name, state == "Z", [a for a in argv if a]
    import subprocess

    out = subprocess.run(["ps", "-o", "stat=,comm=,args=", "-p", str(pid)], capture_output=True, text=True).stdout
    if not out.strip():
        return None
    stat, comm, *argv = out.split()
    return os.path.basename(comm), stat.startswith("Z"), argv


def _alive(pid: int) -> bool:
    proc = _process(pid)
    return proc is not None and not proc[1]


def _postmaster(pgdata: os.PathLike[str] | str) -> int | None:
    """The pid of the postgres serving `pgdata`; None when postmaster.pid is missing or stale
    (after a crash its pid may name any other process by now: that one must never be signalled)."""
    try:
        with open(os.path.join(pgdata, "postmaster.pid")) as fh:
            pid = int(fh.readline())
    except (OSError, ValueError):
        return None
    proc = _process(pid)
    if proc is None or proc[1]:
        return None
    name, _, argv = proc
    return pid if name == "postgres" and os.fspath(pgdata) in argv else None


def _users(pgdata: os.PathLike[str] | str) -> list[int]:
    try:
        with open(os.path.join(pgdata, ".handle_pids.json")) as fh:
            pids = json.load(fh)
    except (OSError, ValueError):
        return []
    return [p for p in pids if isinstance(p, int) and _alive(p)] if isinstance(pids, list) else []


def watch(pgdata: os.PathLike[str] | str, server_lock: os.PathLike[str] | str, poll_s: float = POLL_S) -> None:
    while (postmaster := _postmaster(pgdata)) is not None:
        time.sleep(poll_s)
        # The wheel adds and removes users under this lock (fasteners: fcntl.lockf on the file).
        with open(server_lock, "a") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX)
            try:
                if _users(pgdata):
                    continue
                postmaster = _postmaster(pgdata)
                if postmaster is not None:
                    os.kill(postmaster, signal.SIGINT)  # PostgreSQL's fast shutdown
                    _wait_gone(postmaster, STOP_WAIT_S)  # still under the lock: a new user starts a fresh server
            finally:
                fcntl.lockf(lock, fcntl.LOCK_UN)
        return


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def main(argv: list[str]) -> int:
    pgdata = os.path.realpath(argv[1])
    with open(os.path.join(pgdata, LOCK), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another watchdog has this data dir
        watch(pgdata, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
