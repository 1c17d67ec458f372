"""Work that outlives one request: an import run on a thread, watched through its id.

An MCP client gives up on a tool call after its timeout (often 60 s); an import
of a large export takes longer. The call starts a job, waits for it a while,
and returns either the result or the job's id and progress, which the status
tool waits on again. Jobs live in this process only: after a restart the
import is simply run again (imports skip what is already stored).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
MAX_KEPT = 100  # finished jobs kept for their status; the oldest are forgotten first


@dataclass
class Job:
    id: str
    namespace: str
    started: float = field(default_factory=time.monotonic)
    finished: threading.Event = field(default_factory=threading.Event)
    progress: Any = None  # the latest progress value the work reported
    result: Any = None
    error: BaseException | None = None

    def wait(self, seconds: float) -> bool:
        return self.finished.wait(max(0.0, seconds))


_jobs: dict[str, Job] = {}
_lock = threading.Lock()


def start(namespace: str, work: Callable[[Callable[[Any], None]], Any]) -> Job:
    """Run `work(report)` on a thread; `report(value)` records its progress on the job."""
    job = Job(uuid.uuid4().hex, namespace)

    def report(value: Any) -> None:
        job.progress = value

    def run() -> None:
        try:
            job.result = work(report)
        except BaseException as exc:  # kept for the status call to raise in the caller's door
            from mcp_rag.errors import McpRagError

            if not isinstance(exc, McpRagError):
                log.exception("job %s failed", job.id)
            job.error = exc
        finally:
            job.finished.set()

    with _lock:
        finished = [j for j in _jobs.values() if j.finished.is_set()]
        for old in finished[: max(0, len(_jobs) - MAX_KEPT + 1)]:
            _jobs.pop(old.id, None)
        _jobs[job.id] = job
    context = contextvars.copy_context()  # the caller's identity and trace go along
    threading.Thread(target=context.run, args=(run,), name=f"job-{job.id[:8]}", daemon=True).start()
    return job


def get(job_id: str, namespace: str) -> Job | None:
    """A job by id, only for the namespace that started it."""
    job = _jobs.get(job_id)
    return job if job is not None and job.namespace == namespace else None
