"""The import use case: files, folders and zips in; conversations stored; a report out.

Everything streams: importers yield one conversation (part) at a time, each is
stored in its own transaction by `Service.ingest` (idempotent per conversation
id, appending only unseen messages), so a re-run skips what is stored, a crash
loses at most the conversation in flight, and memory does not grow with the
export. A bad record becomes an error entry with its location; only an
unreachable database stops the run.
"""

from __future__ import annotations

import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import ijson

from mcp_rag.errors import Invalid, McpRagError, Unavailable
from mcp_rag.importers import slack
from mcp_rag.importers.base import Entry, Item, Meter, Problem, Tree, Unreadable, file_entry, folder_tree, zip_tree
from mcp_rag.importers.bounds import Bounds, TooLarge
from mcp_rag.importers.detect import READABLE_SUFFIXES, detect, unknown_reason
from mcp_rag.importers.formats import FORMATS
from mcp_rag.importers.report import FileImport, ImportResult

if TYPE_CHECKING:
    from mcp_rag.models import ConversationIn, IngestResult

Ingest = Callable[["ConversationIn", str], "IngestResult"]  # stores one conversation in a namespace (the service's)

# What a broken file can raise while being read; anything else is a bug and should surface.
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, ijson.JSONError, UnicodeError)
ZIP_MAGIC = b"PK\x03\x04"
DAMAGED_ZIP = "the zip is incomplete or damaged; download or export it again"
MAX_ZIP_NESTING = 3  # a zip of export zips is common; deeper is a zip bomb or a mistake


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

    def snapshot(self) -> dict[str, float]:
        """The counts so far with the elapsed seconds and the rate, as the doors show them."""
        seconds = max(time.monotonic() - self.started, 1e-6)
        return {
            "conversations": self.conversations,
            "messages": self.messages,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "seconds": round(seconds, 1),
            "messages_per_second": round(self.messages / seconds, 1),
        }


def import_inputs(
    ingest: Ingest,
    inputs: Sequence[Input],
    namespace: str,
    bounds: Bounds,
    format: str | None = None,
    keep_noise: bool = False,
    progress: Callable[[Progress], None] | None = None,
    allowed: Callable[[Path], bool] | None = None,
    stop: Sequence[threading.Event] = (),
) -> ImportResult:
    """Import every input; a zip that would expand past the settings' bounds is refused (TooLarge)
    before anything is stored, and the run ends with Stopped as soon as an event of `stop` is set."""
    if format is not None and format not in FORMATS:
        raise Invalid(f"unknown format {format!r}; one of: {', '.join(FORMATS)}")
    for given in inputs:
        if given.path.exists() and (allowed is None or allowed(given.path.resolve())):
            bounds.check_path(given.path, given.name, allowed)
    meter = Meter(tuple(stop))
    state = Progress(0, sum(_size(i.path) for i in inputs))
    files = []
    for given in inputs:
        report = FileImport(name=given.name, format="unknown")
        runner = Recorder(ingest, namespace, report, meter, state, progress)
        runner.consume(_items(given, format, keep_noise, meter, allowed, report, bounds))
        files.append(report)
    return ImportResult(
        files=files,
        conversations=sum(f.conversations for f in files),
        messages_added=sum(f.messages_added for f in files),
        errors=sum(f.error_count for f in files),
    )


def _size(path: Path) -> int:
    """Bytes to read, a zip counted by what it unpacks to. In a folder only `.zip` files are
    opened as zips, as `_tree` reads them: not every file of a Slack export once more."""
    try:
        if path.is_dir():
            files = (p for p in path.rglob("*") if p.is_file())
            return sum(_size(p) if p.suffix.lower() == ".zip" else p.stat().st_size for p in files)
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
    bounds: Bounds,
) -> Iterator[Item]:
    path = given.path
    if not path.exists():
        yield Problem(given.name, "no such file or folder")
    elif path.is_dir():
        yield from _tree(folder_tree(path, given.name, meter, allowed), format, keep_noise, report, bounds)
    elif _is_zip(path):
        yield from _zip(file_entry(path, given.name, meter), format, keep_noise, report, bounds)
    elif format == slack.NAME:
        yield Problem(given.name, "a Slack export is a folder or a zip, not a single file")
    else:
        entry = file_entry(path, given.name, meter)
        found = format or detect(entry)
        if found is None:
            yield Problem(given.name, unknown_reason(entry) or _unknown_format())
            return
        _found(report, found)
        yield from _guarded(entry.name, FORMATS[found].read(entry))


def _is_zip(path: Path) -> bool:
    """A zip by its name or its first bytes, whole or not: a damaged one is reported as such."""
    if path.suffix.lower() == ".zip":
        return True
    with path.open("rb") as f:
        return f.read(4) == ZIP_MAGIC


def _zip(
    entry: Entry, format: str | None, keep_noise: bool, report: FileImport, bounds: Bounds, depth: int = 0
) -> Iterator[Item]:
    """A zip given directly or met in a folder or another zip: read like a folder, member by member."""
    if depth > MAX_ZIP_NESTING:
        yield Problem(entry.name, "zips nested too deeply; unzip the outer ones first")
        return
    with ExitStack() as stack:
        raw = stack.enter_context(entry.opener())
        member = isinstance(raw, zipfile.ZipExtFile)
        if member:  # a zip member seeks by decompressing again: spool it to disk
            spool = stack.enter_context(tempfile.TemporaryFile(prefix="mcp-rag-zip-"))
            while block := raw.read(1024 * 1024):
                entry.meter.check()
                spool.write(block)
            raw = spool
        try:
            archive = stack.enter_context(zipfile.ZipFile(raw))
        except (zipfile.BadZipFile, OSError, EOFError):
            yield Problem(entry.name, DAMAGED_ZIP)
            return
        try:
            bounds.check(archive, entry.name, entry.size)
            if member:  # zips inside zips share one budget: nesting must not multiply it
                entry.meter.unpacked += sum(i.file_size for i in archive.infolist())
                if entry.meter.unpacked > bounds.archive_bytes:
                    raise TooLarge(f"{entry.name}: zips inside zips expand past MCP_RAG_IMPORT_MAX_ARCHIVE_BYTES")
        except TooLarge as exc:
            yield Problem(entry.name, str(exc))
            return
        yield from _tree(zip_tree(archive, entry.name, entry.meter), format, keep_noise, report, bounds, depth)


def _tree(
    tree: Tree, format: str | None, keep_noise: bool, report: FileImport, bounds: Bounds, depth: int = 0
) -> Iterator[Item]:
    """Every file of a folder or zip, each detected; a Slack export inside it (its folder) is read as one."""
    if len(tree.unreadable) > 1 and not tree.entries and len(set(tree.unreadable.values())) == 1:
        yield Problem(tree.name, next(iter(tree.unreadable.values())))  # one reason for the whole zip
        return
    for rel, why in tree.unreadable.items():
        yield Problem(f"{tree.name}:{rel}", why)
    if format == slack.NAME:
        _found(report, slack.NAME)
        yield from _guarded(tree.name, slack.read_export(tree, keep_noise))
        return
    roots = [] if format else slack.export_roots(tree)
    done: set[str] = set()
    found_any = False
    for rel, entry in tree.entries.items():
        root = next((r for r in roots if rel.startswith(r)), None)
        if root is not None:
            if root not in done:
                done.add(root)
                found_any = True
                _found(report, slack.NAME)
                yield from _guarded(tree.name, slack.read_export(slack.subtree(tree, root), keep_noise))
            continue
        if entry.basename.lower().endswith(".zip"):
            found_any = True
            yield from _zip(entry, format, keep_noise, report, bounds, depth + 1)
            continue
        if not entry.basename.lower().endswith(READABLE_SUFFIXES):
            continue
        name: str | None
        reason: str | None
        try:
            name = format or detect(entry)
            reason = unknown_reason(entry) if name is None else None
        except READ_ERRORS as exc:
            name, reason = None, _read_failure(exc)
        if reason:  # a damaged conversations.json is worth a word; a settings file is not
            found_any = True
            yield Problem(entry.name, reason)
        if name is None:
            continue  # exports carry other files (user.json, chat.html, ...): not conversations
        found_any = True
        _found(report, name)
        yield from _guarded(entry.name, FORMATS[name].read(entry))
    if not found_any and not tree.unreadable:
        yield Problem(tree.name, _unknown_format())


def _found(report: FileImport, name: str) -> None:
    found = [] if report.format == "unknown" else report.format.split(",")
    if name not in found:
        report.format = ",".join([*found, name])


def _guarded(location: str, items: Iterator[Item]) -> Iterator[Item]:
    """A file that breaks mid-way (a damaged zip member, a vanished file) ends with an error; the run goes on."""
    try:
        yield from items
    except READ_ERRORS as exc:
        yield Problem(location, _read_failure(exc))


def _read_failure(exc: Exception) -> str:
    if isinstance(exc, Unreadable):
        return str(exc)
    if isinstance(exc, zipfile.BadZipFile | zlib.error | EOFError):
        return f"{DAMAGED_ZIP} ({exc.__class__.__name__}: {exc})"[:300]
    return f"could not read further: {exc.__class__.__name__}: {exc}"[:300]


def _unknown_format() -> str:
    return (
        f"no conversations found in a format we read ({', '.join(FORMATS)}); "
        "to force one, pass --format on the command line (the `format` field over HTTP and MCP)"
    )


class Recorder:
    """Stores items one by one and keeps their tally in a FileImport (also used by the live sync)."""

    def __init__(
        self,
        ingest: Ingest,
        namespace: str,
        report: FileImport,
        meter: Meter,
        state: Progress,
        progress: Callable[[Progress], None] | None,
    ):
        self.ingest, self.namespace, self.report = ingest, namespace, report
        self.meter, self.state, self.progress = meter, state, progress
        self.touched: set[str] = set()
        self.unchanged: set[str] = set()

    def consume(self, items: Iterator[Item]) -> None:
        try:
            for item in items:
                self._store(item)
        except READ_ERRORS as exc:
            self._error(self.report.name, _read_failure(exc))
        self.report.conversations = len(self.touched)
        self.report.skipped = len(self.unchanged - self.touched)

    def _store(self, item: Item) -> None:
        self.meter.check()
        if isinstance(item, Problem):
            self._error(item.location, item.message)
            return
        try:
            result = self.ingest(item.conversation, self.namespace)
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
        self.report.add_error(location, message)
