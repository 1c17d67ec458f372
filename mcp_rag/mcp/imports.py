"""The import tools: an import runs as a job, each call waiting for it at most mcp_call_seconds."""

from __future__ import annotations

import time
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from mcp_rag.errors import NotFound
from mcp_rag.mcp.door import READ, Tools, namespace_of
from mcp_rag.mcp.progress import import_progress, progress_line, reporter
from mcp_rag.mcp.replies import ImportRun


def add_importing(tool: Tools) -> None:
    """import_conversations and import_status (listed only where import folders are configured)."""
    from mcp_rag import jobs

    service = tool.service

    def wait(job: jobs.Job, ctx: Context) -> ImportRun:
        report = reporter(ctx)
        until = time.monotonic() + service().settings.mcp_call_seconds
        while not job.wait(min(0.5, until - time.monotonic())) and time.monotonic() < until:
            progress = import_progress(job)
            if progress is not None:
                report(progress.bytes_done, progress.bytes_total or None, progress_line(progress))
        if job.finished.is_set():
            if job.error is not None:
                raise job.error
            progress = import_progress(job)
            if progress is not None:  # the last count, also for an import shorter than one poll
                report(
                    progress.bytes_total or progress.bytes_done, progress.bytes_total or None, progress_line(progress)
                )
            return ImportRun(complete=True, job_id=job.id, progress=progress, result=job.result)
        return ImportRun(complete=False, job_id=job.id, progress=import_progress(job))

    @tool(
        ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False),
        "Import conversations from an export file",
    )
    def import_conversations(
        path: Annotated[
            str,
            Field(
                min_length=1,
                max_length=4096,
                description="File, folder or zip on the server, below one of its import roots "
                "(a relative path is taken from the first root)",
            ),
        ],
        ctx: Context,
        format: Annotated[
            str | None,
            Field(
                max_length=20,
                description="Force a format: slack, chatgpt, claude, whatsapp, markdown, transcript, json, openai. "
                "Omit to detect it from the content.",
            ),
        ] = None,
    ) -> ImportRun:
        """Import conversations from an export on the server's disk: a Slack export (zip or folder), a ChatGPT or
        Claude conversations.json, WhatsApp or other chat transcripts, or JSON / JSON Lines.

        Only paths below the server's configured import roots can be read; others are refused. Sends
        progress notifications when you send a progress token. One call waits at most about 40 s:
        a larger export comes back with complete=false and a job_id; call import_status with it
        until complete. Safe to repeat: conversations already stored are skipped, new messages
        appended. The result has per-file counts and the records that could not be imported.
        """
        namespace = namespace_of(ctx, "write")
        svc = service()
        svc.check_import_path(path)
        job = jobs.start(namespace, lambda report: svc.import_from_roots(path, namespace, format, progress=report))
        return wait(job, ctx)

    @tool(READ, "Check an import")
    def import_status(
        job_id: Annotated[str, Field(min_length=1, max_length=64, description="job_id from import_conversations")],
        ctx: Context,
    ) -> ImportRun:
        """Wait for an import started by import_conversations (at most about 40 s per call) and return its
        progress, or its result once complete. Imports live in the server's memory: after a restart, run
        import_conversations again (it skips what is stored)."""
        job = jobs.get(job_id, namespace_of(ctx, "write"))
        if job is None:
            raise NotFound(f"no import {job_id!r} in this server; start it again with import_conversations")
        return wait(job, ctx)
