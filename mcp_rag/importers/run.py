"""The import use case: files, folders and zips in; conversations stored; a report out.

Everything streams: importers yield one conversation (part) at a time, each is
stored in its own transaction by `Service.ingest` (idempotent per conversation
id, appending only unseen messages), so a re-run skips what is stored, a crash
loses at most the conversation in flight, and memory does not grow with the
export. A bad record becomes an error entry with its location; only an
unreachable database stops the run.
"""

from __future__ import annotations

import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import ijson

from mcp_rag.errors import Invalid, McpRagError, Unavailable
from mcp_rag.importers import FORMATS, slack
from mcp_rag.importers.base import Item, Meter, Problem, Tree, file_entry, folder_tree, zip_tree
from mcp_rag.importers.detect import READABLE_SUFFIXES, detect
from mcp_rag.importers.report import FileImport, ImportResult, RecordError

if TYPE_CHECKING:
    from mcp_rag.service import Service

# What a broken file can raise while being read; anything else is a bug and should surface.
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, ijson.JSONError, UnicodeError)


@dataclass(frozen=True)
class Input:
    name: str  # as the user knows it: shown in the report and in every location
    path: Path


@dataclass
class Progress:
    bytes_done: int
    bytes_total: int
    conversations: int = 0
    messages: int = 0
    started: float = field(default_factory=time.monotonic)


def import_inputs(
    service: Service,
    inputs: Sequence[Input],
    namespace: str,
    format: str | None = None,
    keep_noise: bool = False,
    progress: Callable[[Progress], None] | None = None,
    allowed: Callable[[Path], bool] | None = None,
) -> ImportResult:
    if format is not None and format not in FORMATS:
        raise Invalid(f"unknown format {format!r}; one of: {', '.join(FORMATS)}")
    meter = Meter()
    state = Progress(0, sum(_size(i.path) for i in inputs))
    files = []
    for given in inputs:
        report = FileImport(name=given.name, format="unknown")
        runner = Recorder(service, namespace, report, meter, state, progress)
        runner.consume(_items(given, format, keep_noise, meter, allowed, report))
        files.append(report)
    return ImportResult(
        files=files,
        conversations=sum(f.conversations for f in files),
        messages_added=sum(f.messages_added for f in files),
        errors=sum(len(f.errors) for f in files),
    )


def _size(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return sum(i.file_size for i in archive.infolist())
        return path.stat().st_size
    except (OSError, zipfile.BadZipFile):
        return 0


def _items(
    given: Input,
    format: str | None,
    keep_noise: bool,
    meter: Meter,
    allowed: Callable[[Path], bool] | None,
    report: FileImport,
) -> Iterator[Item]:
    path = given.path
    if not path.exists():
        yield Problem(given.name, "no such file or folder")
    elif path.is_dir():
        yield from _tree(folder_tree(path, given.name, meter, allowed), format, keep_noise, report)
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            yield from _tree(zip_tree(archive, given.name, meter), format, keep_noise, report)
    elif format == slack.NAME:
        yield Problem(given.name, "a Slack export is a folder or a zip, not a single file")
    else:
        entry = file_entry(path, given.name, meter)
        found = format or detect(entry)
        if found is None:
            yield Problem(given.name, _unknown_format())
            return
        report.format = found
        yield from FORMATS[found].read(entry)


def _tree(tree: Tree, format: str | None, keep_noise: bool, report: FileImport) -> Iterator[Item]:
    if format == slack.NAME or (format is None and slack.is_export(tree)):
        report.format = slack.NAME
        yield from slack.read_export(tree, keep_noise)
        return
    found: list[str] = []
    for entry in tree.entries.values():
        if not entry.basename.lower().endswith(READABLE_SUFFIXES):
            continue
        name = format or detect(entry)
        if name is None:
            continue  # exports carry other files (user.json, chat.html, ...): not conversations
        if name not in found:
            found.append(name)
            report.format = ",".join(found)
        yield from FORMATS[name].read(entry)
    if not found:
        yield Problem(tree.name, _unknown_format())


def _unknown_format() -> str:
    return f"no conversations found in a format we read ({', '.join(FORMATS)}); pass --format to force one"


class Recorder:
    """Stores items one by one and keeps their tally in a FileImport (also used by the live sync)."""

    def __init__(self, service, namespace, report: FileImport, meter: Meter, state: Progress, progress):
        self.service, self.namespace, self.report = service, namespace, report
        self.meter, self.state, self.progress = meter, state, progress
        self.touched: set[str] = set()
        self.unchanged: set[str] = set()

    def consume(self, items: Iterator[Item]) -> None:
        try:
            for item in items:
                self._store(item)
        except READ_ERRORS as exc:
            self._error(self.report.name, f"could not read further: {exc.__class__.__name__}: {exc}"[:300])
        self.report.conversations = len(self.touched)
        self.report.skipped = len(self.unchanged - self.touched)

    def _store(self, item: Item) -> None:
        if isinstance(item, Problem):
            self._error(item.location, item.message)
            return
        try:
            result = self.service.ingest(item.conversation, self.namespace)
        except Unavailable:
            raise
        except McpRagError as exc:
            self._error(item.location, str(exc))
            return
        if result.created or result.messages_added:
            self.touched.add(result.external_id)
            self.state.conversations += result.created
        else:
            self.unchanged.add(result.external_id)
        self.report.messages_added += result.messages_added
        self.state.messages += result.messages_added
        if self.progress:
            self.state.bytes_done = self.meter.done
            self.progress(self.state)

    def _error(self, location: str, message: str) -> None:
        self.report.errors.append(RecordError(location=location, message=message))
