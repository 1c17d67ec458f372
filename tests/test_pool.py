"""Pooled connections are PostgreSQL backends: after a burst, the idle ones close down to the
most recently used one (real embedded PostgreSQL)."""

from __future__ import annotations

import time
from contextlib import ExitStack

from builders import wait_until
from sqlalchemy import text

from mcp_rag.store import db


def live_backends(service, pids: list[int]) -> set[int]:
    with service.engine.connect() as conn:
        rows = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": pids})
        return set(rows.scalars())


def burst(engine, width: int) -> list[int]:
    """`width` connections open at once, each asked its backend's pid; returned in order."""
    with ExitStack() as stack:
        conns = [stack.enter_context(engine.connect()) for _ in range(width)]
        return [c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in conns]


def test_connections_idle_past_the_timeout_close_down_to_the_most_recently_used(service):
    engine = db.make_engine(service.engine.url.render_as_string(hide_password=False), 8, close_idle_after=0.5)
    try:
        pids = burst(engine, 6)
        assert live_backends(service, pids) == set(pids)  # all six pooled, none closed yet

        # ExitStack returns them last-opened first: the first one opened is the most recently returned.
        assert wait_until(lambda: live_backends(service, pids) == {pids[0]}, 10), live_backends(service, pids)
        assert engine.pool.checkedin() == 1

        # The pool still serves a burst as wide as before, opening what it closed.
        assert len(set(burst(engine, 8))) == 8
    finally:
        engine.dispose()


def test_with_no_timeout_a_burst_stays_pooled(service):
    engine = db.make_engine(service.engine.url.render_as_string(hide_password=False), 8, close_idle_after=0)
    try:
        pids = burst(engine, 4)
        time.sleep(1.0)
        assert live_backends(service, pids) == set(pids)
    finally:
        engine.dispose()


def test_a_disposed_engine_gets_a_pool_that_still_closes_idle_connections(service):
    engine = db.make_engine(service.engine.url.render_as_string(hide_password=False), 8, close_idle_after=0.5)
    try:
        engine.dispose()  # swaps in a new pool (`recreate`)
        pids = burst(engine, 3)
        assert wait_until(lambda: len(live_backends(service, pids)) == 1, 10), live_backends(service, pids)
    finally:
        engine.dispose()
