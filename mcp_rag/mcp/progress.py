"""Progress notifications of long tool calls: ingests in parts and imports."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio.from_thread
from mcp.server.mcpserver import Context

from mcp_rag.mcp.replies import ImportProgress

if TYPE_CHECKING:
    from mcp_rag import jobs


def reporter(ctx: Context, every: float = 0.5) -> Callable[[float, float | None, str | None], None]:
    """Progress notifications from a tool's worker thread (the SDK runs plain-def tools on
    one); a no-op unless the client sent a progress token. At most one per `every` seconds,
    and always the last one (done == total)."""
    last = [0.0]

    def report(done: float, total: float | None, message: str | None = None) -> None:
        now = time.monotonic()
        if now - last[0] < every and done != total:
            return
        last[0] = now
        try:
            anyio.from_thread.run(ctx.report_progress, done, total, message)
        except Exception:  # a client gone mid-call must not fail the work itself
            pass

    return report


def import_progress(job: jobs.Job) -> ImportProgress | None:
    state = job.progress
    if state is None:
        return None
    return ImportProgress.model_validate(state.snapshot())


def progress_line(p: ImportProgress) -> str:
    return f"{p.conversations} conversations, {p.messages} messages ({p.messages_per_second}/s)"
