"""The connection pool: SQLAlchemy's QueuePool (most recently used first) that closes
connections left idle past a timeout, down to one.

Every pooled connection is a PostgreSQL backend of a few MiB, tens after it has
served searches and ingests (its catalog caches and work memory stay). A burst
(concurrent searches, a readiness probe retried while start-up is slow) opens up
to the pool's size, and SQLAlchemy's pool keeps them all for good. Here the ones
unused for `idle_s` seconds are closed by a background thread; with the most
recently used handed out first, a steady workload keeps reusing the warm one and
the others age out. A closed one costs a reconnect (a few ms over the Unix
socket) when a burst comes again.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

_RETURNED = "mcp_rag_returned_at"
T = TypeVar("T")


class IdleClosingPool(QueuePool):
    """A LIFO QueuePool whose connections idle for `close_idle_after` seconds are closed,
    `keep_idle` left open; 0 seconds closes none (a plain QueuePool). Both are keyword
    arguments of `create_engine(..., poolclass=IdleClosingPool)`."""

    def __init__(self, creator: Any, close_idle_after: float = 0.0, keep_idle: int = 1, **kw: Any):
        kw["use_lifo"] = True
        super().__init__(creator, **kw)
        self.idle_s, self.keep = close_idle_after, keep_idle
        if self.idle_s > 0:
            _reaper.add(self)

    def recreate(self) -> QueuePool:  # engine.dispose() swaps in a fresh pool of the same kind
        pool = super().recreate()
        assert isinstance(pool, IdleClosingPool)
        pool.idle_s, pool.keep = self.idle_s, self.keep
        if self.idle_s > 0:
            _reaper.add(pool)
        return pool

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED] = time.monotonic()
        super()._do_return_conn(record)

    def close_idle(self, now: float | None = None) -> int:
        """Close the pooled connections idle for `idle_s` or more, beyond `keep`; return how many."""
        now = time.monotonic() if now is None else now
        queue = self._pool  # its deque: the least recently returned at the left, handed out from the right
        closing: list[ConnectionPoolEntry] = []
        with queue.mutex:  # type: ignore[attr-defined]  # sqlalchemy.util.queue.Queue (threads, not asyncio)
            waiting = queue.queue  # type: ignore[attr-defined]
            while len(waiting) > self.keep and now - waiting[0].info.get(_RETURNED, now) >= self.idle_s:
                closing.append(waiting.popleft())
        for record in closing:
            record.close()
            self._dec_overflow()  # one connection fewer: the pool may open another when needed
        return len(closing)


class _Reaper:
    """One daemon thread for every pool of the process; it holds them weakly, so a pool
    dropped with its engine is dropped here too."""

    def __init__(self) -> None:
        self._pools: weakref.WeakSet[IdleClosingPool] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._added = threading.Event()  # a new pool may want a shorter period than the current wait

    def add(self, pool: IdleClosingPool) -> None:
        with self._lock:
            self._pools.add(pool)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pool-reaper", daemon=True)
                self._thread.start()
        self._added.set()

    def _run(self) -> None:
        while True:
            # A connection closes between idle_s and 1.25 idle_s after its last use.
            self._added.wait(min((p.idle_s for p in list(self._pools)), default=60.0) / 4)
            self._added.clear()
            for pool in list(self._pools):
                try:
                    pool.close_idle()
                except Exception:  # a connection that fails to close is gone anyway
                    continue


_reaper = _Reaper()


# How long a new connection waits for a free slot on a server that has every one taken.
ADMIT_WAIT_S = 10.0


def too_many_clients(message: str) -> bool:
    """Whether a refused connection's message means every slot is taken (the server's FATAL
    message; psycopg gives connection failures no SQLSTATE)."""
    return "too many clients already" in message


def _slots_full(exc: BaseException) -> bool:
    """`too_many_clients` of an error, or of a failed command's stderr (psql)."""
    return too_many_clients(f"{exc} {getattr(exc, 'stderr', None) or ''}")


def admitted(connect: Callable[[], T]) -> T:
    """`connect()`, tried again with back-off for up to ADMIT_WAIT_S while the server refuses it
    for having every connection slot taken (by other local processes): a busy moment delays a
    request instead of failing it. Any other failure is raised at once."""
    deadline, pause = time.monotonic() + ADMIT_WAIT_S, 0.05
    while True:
        try:
            return connect()
        except Exception as exc:
            if not _slots_full(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 1.0)


def admitted_connect(dialect: Any, record: Any, cargs: tuple, cparams: dict) -> Any:
    """A `do_connect` hook: the driver's connect, `admitted`."""
    return admitted(lambda: dialect.connect(*cargs, **cparams))
