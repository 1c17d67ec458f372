"""/v1/import: upload exports (multipart field `files`, one or more) and import them."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from pathlib import Path, PurePosixPath

import anyio
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from mcp_rag.api.deps import get_service, write_namespace
from mcp_rag.importers.report import ImportResult
from mcp_rag.service import Service

router = APIRouter(prefix="/v1", tags=["import"])
DISCONNECT_POLL_S = 0.5


@router.post("/import", response_model=ImportResult)
async def import_files(
    request: Request,
    files: list[UploadFile] = File(..., description="Exports: Slack zip, conversations.json, chats, JSON/JSONL"),
    format: str | None = Form(None, description="Force a format instead of detecting it (e.g. slack, chatgpt)"),
    service: Service = Depends(get_service),
    namespace: str = Depends(write_namespace),
) -> ImportResult:
    """Import uploaded exports. Bad records are skipped and listed per file; re-uploading adds nothing twice.
    A zip that would expand past the import bounds is refused (413) before anything is stored."""
    gone = threading.Event()  # the client disconnected: the import stops at its next read

    async def watch() -> None:
        while not await request.is_disconnected():
            await anyio.sleep(DISCONNECT_POLL_S)
        gone.set()

    watcher = asyncio.ensure_future(watch())
    try:
        return await run_in_threadpool(_import, files, format, service, namespace, gone)
    finally:
        watcher.cancel()


def _import(
    files: list[UploadFile], format: str | None, service: Service, namespace: str, gone: threading.Event
) -> ImportResult:
    with tempfile.TemporaryDirectory(prefix="mcp-rag-import-") as tmp:
        inputs = []
        for i, upload in enumerate(files):
            name = PurePosixPath((upload.filename or "").replace("\\", "/")).name or f"upload-{i + 1}"
            path = Path(tmp) / f"{i}-{name}"
            with path.open("wb") as out:  # copied in 1 MiB blocks: an upload never sits in memory whole
                shutil.copyfileobj(upload.file, out, 1024 * 1024)
            inputs.append((name, path))
        return service.import_files(inputs, namespace, format or None, stop=gone)
