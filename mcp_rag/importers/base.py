"""What every importer shares: where bytes come from, what comes out, and how
a raw record becomes validated conversations.

An importer reads an `Entry` (one file on disk or one member of a zip) or a
`Tree` (a folder or a zip: a Slack export) and yields, in order, `Parsed`
conversations and `Problem`s. It never raises for bad input: a bad record is a
`Problem` with its location, and the run goes on.

Long conversations come out in `Parsed` parts of at most PART_MESSAGES
messages, each carrying explicit message ids: the service appends only unseen
ids, so the parts add up to one conversation and memory stays flat. A message
that has no id of its own is numbered by its position in the whole
conversation, as the service numbers one sent whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from pydantic import ValidationError

from mcp_rag.errors import Unavailable
from mcp_rag.models import CUT_TEXT, MAX_MESSAGE_CHARS, ConversationIn, MessageIn

PART_MESSAGES = 1000
HEAD_BYTES = 64 * 1024
BOM = b"\xef\xbb\xbf"
# What zipfile decompresses; other methods (Deflate64 from Windows Explorer, ...) are refused by name.
ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
ZIP_METHOD_NAMES = {1: "Shrink", 6: "Implode", 9: "Deflate64", 93: "Zstandard", 95: "XZ", 98: "PPMd", 99: "AES"}


@dataclass(frozen=True)
class Parsed:
    location: str
    conversation: ConversationIn


@dataclass(frozen=True)
class Problem:
    location: str
    message: str


Item = Parsed | Problem


class Unreadable(OSError):
    """A file that cannot be read at all, with the reason a person can act on."""


class Stopped(Unavailable):
    """The run was told to stop (its client left, or the server is shutting down)."""


class Meter:
    """A whole run's shared state: bytes read so far (progress and ETA), bytes unpacked from zips
    inside zips, and the events that stop it, checked on every read."""

    def __init__(self, stop: tuple[threading.Event, ...] = ()) -> None:
        self.done = 0
        self.unpacked = 0
        self.stop = stop

    def check(self) -> None:
        if any(event.is_set() for event in self.stop):
            raise Stopped(
                "the import stopped: its client disconnected or the server is shutting down; "
                "what was stored stays, and running it again resumes"
            )


class _Counted(io.RawIOBase):
    def __init__(self, raw: IO[bytes], meter: Meter):
        self.raw, self.meter = raw, meter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.meter.done += len(data)
        self.meter.check()
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


@dataclass
class Entry:
    """One file to read: `name` is what locations show, `opener` gives its bytes."""

    name: str
    size: int
    opener: Callable[[], IO[bytes]]
    meter: Meter = field(default_factory=Meter)

    @property
    def basename(self) -> str:
        return PurePosixPath(self.name.replace("\\", "/")).name

    def open(self, counted: bool = True) -> IO[bytes]:
        """The file's bytes, without a leading UTF-8 byte-order mark (Windows tools write one)."""
        meter, buffer = (self.meter, 256 * 1024) if counted else (Meter(self.meter.stop), HEAD_BYTES)  # sniffing
        f = io.BufferedReader(_Counted(self.opener(), meter), buffer)
        if f.peek(len(BOM)).startswith(BOM):
            f.read(len(BOM))
        return f

    def head(self) -> bytes:
        with self.open(counted=False) as f:
            return f.read(HEAD_BYTES)

    def text_lines(self, counted: bool = True) -> Iterator[str]:
        """Lines without their ends; undecodable bytes become U+FFFD rather than stopping the file.
        A line longer than a message may be is cut short, ending in CUT_TEXT (refused when stored)."""
        with io.TextIOWrapper(self.open(counted), encoding="utf-8-sig", errors="replace", newline=None) as f:
            while line := f.readline(MAX_MESSAGE_CHARS + 1):
                if len(line) > MAX_MESSAGE_CHARS and not line.endswith("\n"):
                    while (rest := f.readline(MAX_MESSAGE_CHARS)) and not rest.endswith("\n"):
                        pass
                    line = line[: MAX_MESSAGE_CHARS - len(CUT_TEXT)] + CUT_TEXT
                yield line.rstrip("\n")


@dataclass
class Tree:
    """A folder or a zip: entries by relative posix path, and members that cannot be read, with why."""

    name: str
    entries: dict[str, Entry]
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries.values())


def file_entry(path: Path, name: str, meter: Meter) -> Entry:
    return Entry(name, path.stat().st_size, lambda: path.open("rb"), meter)


def folder_tree(path: Path, name: str, meter: Meter, allowed: Callable[[Path], bool] | None = None) -> Tree:
    """Every regular file below `path`; with `allowed`, files whose real path it refuses are left out
    (a symlink inside an allowed folder must not lead outside it)."""
    entries: dict[str, Entry] = {}
    for file in sorted(path.rglob("*")):
        if not file.is_file() or any(part.startswith(".") for part in file.relative_to(path).parts):
            continue
        if allowed is not None and not allowed(file.resolve()):
            continue
        rel = file.relative_to(path).as_posix()
        entries[rel] = file_entry(file, f"{name}/{rel}", meter)
    return Tree(name, entries)


def zip_tree(archive: zipfile.ZipFile, name: str, meter: Meter) -> Tree:
    """Members are opened one at a time and decompressed as they are read: nothing is extracted.
    Encrypted members and compression methods zipfile lacks are set apart with the reason."""
    tree = Tree(name, {})
    for info in archive.infolist():
        rel = info.filename
        unsafe = unsafe_name(rel)
        if unsafe:
            tree.unreadable[rel] = unsafe
            continue
        if info.is_dir() or rel.startswith("__MACOSX/") or PurePosixPath(rel).name.startswith("."):
            continue
        reason = unreadable_member(info)
        if reason:
            tree.unreadable[rel] = reason
        else:
            tree.entries[rel] = Entry(f"{name}:{rel}", info.file_size, lambda info=info: _open(archive, info), meter)
    return tree


def unsafe_name(name: str) -> str | None:
    """Why a member's name is refused: absolute, or climbing out with `..`, with either slash.
    Members are never written to disk, but such a name is a sign of a forged archive."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(parts[0]) == 2 and parts[0][1] == ":") or ".." in parts:
        return "unsafe path in the zip (absolute or with '..'): not read"
    return None


def unreadable_member(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "encrypted: export it again without a password"
    if info.compress_type not in ZIP_METHODS:
        method = ZIP_METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
        return f"uses a compression method this reader does not support ({method}); re-zip it"
    return None


def _open(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    # zipfile says "encrypted" or "not supported" with RuntimeError / NotImplementedError: a file
    # problem, not a bug, so it becomes an OSError the run reports for this file and goes on.
    try:
        return archive.open(info)
    except (RuntimeError, NotImplementedError) as exc:
        raise Unreadable(f"cannot be unzipped ({exc})") from exc


def explain(exc: Exception) -> str:
    """One line a person can act on, for a record that failed validation or storage."""
    if isinstance(exc, ValidationError):
        parts = []
        for e in exc.errors()[:3]:
            where = ".".join(str(p) for p in e["loc"])
            parts.append(f"{where}: {e['msg']}" if where else e["msg"])
        return "; ".join(parts)
    return str(exc) or exc.__class__.__name__


def message(location: str, **fields: Any) -> MessageIn | Problem:
    try:
        return MessageIn.model_validate(fields)
    except ValidationError as exc:
        return Problem(location, explain(exc))


def parts(location: str, fields: dict[str, Any], messages: Iterable[MessageIn | Problem]) -> Iterator[Item]:
    """Problems as they come, and the good messages as conversations of at most PART_MESSAGES.

    A conversation whose own fields are invalid yields one Problem and no part,
    so nothing of it is stored."""
    try:
        ConversationIn.model_validate({**fields, "messages": [{"content": "probe"}]})
    except ValidationError as exc:
        yield Problem(location, explain(exc))
        return
    batch: list[MessageIn] = []
    position = 0
    for m in messages:
        if isinstance(m, Problem):
            yield m
            continue
        position += 1
        batch.append(m if m.id else m.model_copy(update={"id": str(position)}))
        if len(batch) == PART_MESSAGES:
            yield Parsed(location, ConversationIn(**fields, messages=batch))
            batch = []
    if batch:
        yield Parsed(location, ConversationIn(**fields, messages=batch))


def stable_id(prefix: str, *parts: Any) -> str:
    """An id derived from what identifies a source conversation, so a re-run finds it again."""
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()[:24]
    return f"{prefix}:{digest}"


def text_of(value: Any) -> str:
    """Text from a string or a list of content parts ({"type": "text", "text": ...}, strings, images)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return value["text"]
        kind = value.get("type") or value.get("content_type")
        return "[image]" if isinstance(kind, str) and "image" in kind else ""
    if isinstance(value, list):
        return "\n".join(t for t in (text_of(v) for v in value) if t)
    return ""
