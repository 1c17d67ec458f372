"""Start-up: wait for the database (and its schema) with back-off instead of exiting.

A pod that starts while PostgreSQL restarts, or before the migration Job has
run, waits here; Kubernetes' start-up probe bounds the wait from outside.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from mcp_rag.errors import Unavailable
from mcp_rag.service import Service

log = logging.getLogger(__name__)

MAX_DELAY = 30.0


def wait_for_database(
    service: Service,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once the database answers with a compatible schema; raise Unavailable
    after `timeout` seconds of trying (delays 1, 2, 4 ... 30 s between attempts)."""
    deadline = clock() + timeout
    delay = 1.0
    attempt = 1
    while True:
        try:
            service.ready()
            if attempt > 1:
                log.warning("database ready after %d attempts", attempt)
            return
        except Unavailable as exc:
            if clock() + delay > deadline:
                raise Unavailable(f"database not ready after {attempt} attempts: {exc}") from exc
            log.warning("database not ready (%s); attempt %d, retrying in %.0f s", exc, attempt, delay)
        sleep(delay)
        delay = min(delay * 2, MAX_DELAY)
        attempt += 1
