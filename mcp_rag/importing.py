"""Importing exports and syncing Slack: the rules live in mcp_rag/importers/ and
mcp_rag/sync/; this wires them to the service's ingest, settings and stop signal.

Both are imported inside the functions: neither is on the start-up path of
`mcp-rag mcp` or the server, and importing them costs start-up time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Connection

from mcp_rag.config import Settings
from mcp_rag.models import ConversationIn, IngestResult

if TYPE_CHECKING:
    from mcp_rag.importers.bounds import Bounds
    from mcp_rag.importers.report import ImportResult
    from mcp_rag.sync.slack import SyncResult


class Importer(Protocol):
    """What importing needs of the service (which provides it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def stopping(self) -> threading.Event: ...

    def ingest(self, conv: ConversationIn, namespace: str = ...) -> IngestResult: ...

    def transaction(self, read_only: bool = False) -> AbstractContextManager[Connection]: ...

    def connection(self) -> AbstractContextManager[Connection]: ...


def import_files(
    service: Importer,
    inputs: list[tuple[str, Any]],
    namespace: str,
    format: str | None,
    keep_noise: bool,
    progress: Callable[[Any], None] | None,
    stop: threading.Event | None,
) -> ImportResult:
    """Import exports (files, folders, zips) given as (name shown, path); per-file report.
    Ends early (Unavailable) once `stop` is set or the service is stopping."""
    from pathlib import Path

    from mcp_rag.importers import run

    given = [run.Input(name, Path(path)) for name, path in inputs]
    stops = (service.stopping, stop) if stop else (service.stopping,)
    bounds = _bounds(service.settings)
    return run.import_inputs(service.ingest, given, namespace, bounds, format, keep_noise, progress, stop=stops)


def import_from_roots(
    service: Importer,
    path: str,
    namespace: str,
    format: str | None,
    progress: Callable[[Any], None] | None,
) -> ImportResult:
    """Like import_files for one path, refused unless it lies below MCP_RAG_IMPORT_ROOTS."""
    from mcp_rag.importers import roots, run

    real, allowed = roots.confine(path, service.settings.import_roots)
    return run.import_inputs(
        service.ingest,
        [run.Input(path, real)],
        namespace,
        _bounds(service.settings),
        format,
        progress=progress,
        allowed=allowed,
        stop=(service.stopping,),
    )


def _bounds(settings: Settings) -> Bounds:
    from mcp_rag.importers.bounds import Bounds

    return Bounds(settings.import_max_member_bytes, settings.import_max_archive_bytes, settings.import_max_ratio)


def check_import_path(settings: Settings, path: str) -> None:
    """Raise as import_from_roots would for a path outside the import roots, without importing."""
    from mcp_rag.importers import roots

    roots.confine(path, settings.import_roots)


def sync_slack(service: Importer, channels: list[str], namespace: str, keep_noise: bool) -> list[SyncResult]:
    """Fetch new Slack messages of these channels (Web API) and store them; resumes from the stored cursor."""
    from mcp_rag.sync import slack

    return slack.sync(service, service.ingest, service.settings, channels, namespace, keep_noise)
