"""Database engine: embedded or DATABASE_URL, pooled, migrated on demand; and the one
place where database failures become core errors (`mapped_errors`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from mcp_rag.config import Settings
from mcp_rag.errors import ConfigError, Conflict, Invalid, Unavailable
from mcp_rag.store import revisions
from mcp_rag.store.pool import IdleClosingPool, admitted_connect

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
CONTENTION = ("40P01", "40001")  # deadlock detected, serialization failure


class Database(Protocol):
    """What use cases need of the database: connections whose failures arrive as core errors.
    The service provides it; use cases take it instead of the service itself."""

    def transaction(self, read_only: bool = False) -> AbstractContextManager[Connection]: ...

    def connection(self) -> AbstractContextManager[Connection]: ...


def is_contention(exc: BaseException | None) -> bool:
    """A deadlock or serialization failure: the transaction was rolled back whole and may be rerun."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in CONTENTION


def core_error(exc: DBAPIError, revive: Callable[[], None] | None = None) -> Exception:
    """The core error a database failure means, or `exc` itself when it means none (a bug).
    `revive` is called when the server is unreachable (it restarts a killed embedded one)."""
    if is_contention(exc):  # checked first: SQLAlchemy files these under OperationalError
        return Conflict("concurrent writes collided; retry the request")
    if isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated:
        if revive is not None:
            revive()
        return Unavailable("database unreachable")
    sqlstate = getattr(exc.orig, "sqlstate", "") or ""
    if sqlstate.startswith("22"):  # data exception: bad value for the column
        return Invalid(f"value not storable: {str(exc.orig).splitlines()[0]}")
    if sqlstate.startswith("23"):
        return Conflict("conflicting write; retry the request")
    return exc


@contextmanager
def mapped_errors(revive: Callable[[], None] | None = None) -> Iterator[None]:
    """Database failures inside become core errors (`core_error`): a dead database is
    Unavailable, never a 500, for every door alike."""
    try:
        yield
    except DBAPIError as exc:
        mapped = core_error(exc, revive)
        if mapped is exc:
            raise
        raise mapped from exc


def ping(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL to use, starting the embedded server when none is set."""
    if settings.database_url:
        return _postgres_url(settings.database_url, "DATABASE_URL")
    from mcp_rag.store import embedded

    return embedded.start(settings.pgdata, embedded_settings(settings))


# The embedded server's own defaults that cost memory for nothing here: three I/O worker
# processes (data read from the page cache gains nothing from them), the logical
# replication launcher, and shared memory laid out and written at start for every process
# slot (its entry, lock tables, I/O handles): 16 autovacuum workers where 3 run, 64 I/O
# handles per process where synchronous I/O has one in flight (docs/PERFORMANCE.md, memory).
# WAL sender slots stay: `pg_basebackup -X stream` (a physical backup, a standby) needs them.
LEAN = {
    "io_method": "sync",
    "max_logical_replication_workers": "0",
    "autovacuum_worker_slots": "3",
    "io_max_concurrency": "4",
}
SPEED = {  # PostgreSQL's defaults
    "io_method": "worker",
    "max_logical_replication_workers": "4",
    "autovacuum_worker_slots": "16",
    "io_max_concurrency": "-1",
}
# shared_buffers by the data's size ("auto"): pages are only counted once touched, but the
# buffer table and descriptors are allocated for the whole pool at start.
SHARED_BUFFERS_MIN_MB, SHARED_BUFFERS_MAX_MB = 32, 256
# Connections the embedded server admits beyond one process's whole pool: the other local
# processes sharing it (CLI commands, stdio MCP servers, a migration, a backup, psql).
OTHER_CLIENTS = 16
DEFAULT_MAX_CONNECTIONS = 100  # PostgreSQL's, kept by the speed profile when the pool needs fewer


def pool_limit(pool_size: int) -> int:
    """The connections one engine opens at most: its pool and the overflow (`make_engine`)."""
    return pool_size * 3


def embedded_settings(settings: Settings) -> dict[str, str]:
    """The embedded PostgreSQL's server settings for `settings.memory_profile`.

    max_connections follows the pool (each slot costs shared memory written at start): a
    process that finds every slot taken waits for one (`pool.admitted_connect`) instead of failing."""
    chosen = settings.embedded_shared_buffers
    if chosen == "auto":
        mb = SHARED_BUFFERS_MAX_MB
        if settings.memory_profile == "lean":
            mb = _data_mb(settings.pgdata)
            mb = max(SHARED_BUFFERS_MIN_MB, min(SHARED_BUFFERS_MAX_MB, 1 << max(mb - 1, 1).bit_length()))
        chosen = f"{mb}MB"
    connections = pool_limit(settings.db_pool_size) + OTHER_CLIENTS
    if settings.memory_profile == "speed":
        connections = max(connections, DEFAULT_MAX_CONNECTIONS)
    profile = LEAN if settings.memory_profile == "lean" else SPEED
    return {"shared_buffers": chosen, "max_connections": str(connections), **profile}


def _data_mb(pgdata: Path) -> int:
    """The megabytes of table and index files in the data dir (0 before initdb)."""
    total = 0
    for path in (pgdata / "base").rglob("*"):
        try:
            total += path.stat().st_size
        except OSError:  # removed meanwhile
            continue
    return total >> 20


def read_url(settings: Settings) -> str:
    """The SQLAlchemy URL for read-only use cases (DATABASE_READ_URL, e.g. a streaming replica)."""
    return _postgres_url(settings.database_read_url or "", "DATABASE_READ_URL")


def _postgres_url(raw: str, setting: str) -> str:
    try:
        url = make_url(raw)
    except Exception:
        raise ConfigError(f"invalid setting {setting}: not a database URL") from None
    if not url.drivername.startswith("postgresql"):
        raise ConfigError(f"invalid setting {setting}: only PostgreSQL is supported")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def make_engine(url: str, pool_size: int = 16, close_idle_after: float = 0.0) -> Engine:
    """A pooled engine; pooled connections unused for `close_idle_after` seconds are closed
    down to one (`store.pool`), 0 keeps them."""
    engine = create_engine(
        url,
        # The most recently returned connection first: a sequential workload keeps using one
        # backend and the others stay small (in turn, each grew its own catalog caches) and close.
        poolclass=IdleClosingPool,
        close_idle_after=close_idle_after,
        pool_size=pool_size,
        max_overflow=pool_limit(pool_size) - pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={"connect_timeout": 5},
    )
    event.listen(engine, "do_connect", admitted_connect)
    return engine


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        has = conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar()
        if not has:
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def head_revision() -> str:
    return revisions.head()


def migrate_apart(url: str) -> None:
    """`migrate` in a child process, so that Alembic's imports (~11 MiB) never stay in a
    long-running server; its log and errors go to this process's stderr. A database that
    cannot be reached is Unavailable."""
    import subprocess
    import sys

    # -P: the working directory must not shadow this package with another checkout's.
    done = subprocess.run([sys.executable, "-P", "-c", _MIGRATE, url], stdin=subprocess.DEVNULL, check=False)
    if done.returncode == _UNREACHABLE:
        raise Unavailable("database unreachable while migrating")
    if done.returncode != 0:
        raise RuntimeError(f"the migrations failed (exit status {done.returncode}); see the log above")


_UNREACHABLE = 75
_MIGRATE = f"""
import sys
from sqlalchemy.exc import OperationalError
from mcp_rag.store import db
try:
    db.migrate(sys.argv[1])
except OperationalError as exc:
    print(f"database unreachable while migrating: {{exc.orig.__class__.__name__}}", file=sys.stderr)
    sys.exit({_UNREACHABLE})
"""
