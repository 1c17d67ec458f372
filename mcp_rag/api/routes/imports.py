"""/v1/import: upload exports (multipart field `files`, one or more) and import them."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import anyio
from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from mcp_rag import jobs
from mcp_rag.api.deps import get_service, write_namespace
from mcp_rag.api.problems import problem, status_of
from mcp_rag.errors import McpRagError
from mcp_rag.importers.report import ImportResult
from mcp_rag.service import Service

if TYPE_CHECKING:
    from mcp_rag.importers.run import Progress

router = APIRouter(prefix="/v1", tags=["import"])
DISCONNECT_POLL_S = 0.5


@router.post(
    "/import",
    response_model=ImportResult,
    responses={200: {"content": {"text/event-stream": {}}, "description": "With stream=true: SSE events"}},
)
async def import_files(
    request: Request,
    files: list[UploadFile] = File(..., description="Exports: Slack zip, conversations.json, chats, JSON/JSONL"),
    format: str | None = Form(None, description="Force a format instead of detecting it (e.g. slack, chatgpt)"),
    stream: bool = Form(False, description="Reply as server-sent events: `progress` while it runs, then `done`"),
    service: Service = Depends(get_service),
    namespace: str = Depends(write_namespace),
) -> ImportResult | EventSourceResponse:
    """Import uploaded exports. Bad records are skipped and listed per file; re-uploading adds nothing twice.

    With `stream=true` the reply is `text/event-stream`: `progress` events (conversations,
    messages, bytes, messages per second) about twice a second, then `done` (the result)
    or `error` (a problem object). A zip that would expand past the import bounds is refused
    (413) before anything is stored; the import stops when the client disconnects."""
    gone = threading.Event()  # the client disconnected: the import stops at its next read
    tmp = tempfile.mkdtemp(prefix="mcp-rag-import-")
    try:
        inputs = await run_in_threadpool(_save, files, Path(tmp))
        if not stream:
            watcher = asyncio.ensure_future(_watch(request, gone))
            try:
                return await run_in_threadpool(service.import_files, inputs, namespace, format or None, stop=gone)
            finally:
                watcher.cancel()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if not stream:
            shutil.rmtree(tmp, ignore_errors=True)

    def work(report: Callable[[Progress], None]) -> ImportResult:
        try:
            return service.import_files(inputs, namespace, format or None, progress=report, stop=gone)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return EventSourceResponse(_events(jobs.start(namespace, work), gone), ping=15)


async def _watch(request: Request, gone: threading.Event) -> None:
    while not await request.is_disconnected():
        await anyio.sleep(DISCONNECT_POLL_S)
    gone.set()


def _save(files: list[UploadFile], folder: Path) -> list[tuple[str, Path]]:
    inputs = []
    for i, upload in enumerate(files):
        name = PurePosixPath((upload.filename or "").replace("\\", "/")).name or f"upload-{i + 1}"
        path = folder / f"{i}-{name}"
        with path.open("wb") as out:  # copied in 1 MiB blocks: an upload never sits in memory whole
            shutil.copyfileobj(upload.file, out, 1024 * 1024)
        inputs.append((name, path))
    return inputs


def _events(job: jobs.Job, gone: threading.Event) -> Iterator[dict[str, str]]:
    """The job's progress about twice a second, then its result or its error; closed early
    (the client left), it stops the import."""
    try:
        yield from _job_events(job)
    finally:
        gone.set()


def _job_events(job: jobs.Job) -> Iterator[dict[str, str]]:
    while not job.wait(0.5):
        if job.progress is not None:
            yield {"event": "progress", "data": json.dumps(job.progress.snapshot())}
    if job.progress is not None:
        yield {"event": "progress", "data": json.dumps(job.progress.snapshot())}
    if isinstance(job.error, McpRagError):
        yield {"event": "error", "data": _body(problem(status_of(job.error), job.error.title, str(job.error)))}
    elif job.error is not None:
        yield {"event": "error", "data": _body(problem(500, "Internal error", "the import failed"))}
    else:
        yield {"event": "done", "data": job.result.model_dump_json()}


def _body(response: Response) -> str:
    return bytes(response.body).decode()
