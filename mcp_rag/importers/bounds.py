"""How far a zip may expand, checked on its central directory before a byte is decompressed.

A zip states each member's compressed and expanded size, and Python's zipfile
never returns more than the stated size, so the directory is a bound to trust:
a member past `member_bytes`, an archive past `archive_bytes`, or a member (or
the whole archive) expanding more than `ratio` times its compressed size is
refused before anything is read. Real exports compress 5-20 times (JSON is
repetitive); a zip bomb compresses about 1,000 times. Members below RATIO_FLOOR
expanded are too small for their ratio to matter.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mcp_rag.errors import Invalid

RATIO_FLOOR = 1024 * 1024


class TooLarge(Invalid):
    """An input that would expand past a configured bound: refused before it is read."""

    status = 413
    title = "Content too large"


@dataclass(frozen=True)
class Bounds:
    member_bytes: int
    archive_bytes: int
    ratio: int

    def check(self, archive: zipfile.ZipFile, name: str, packed: int) -> None:
        """Raise TooLarge naming the first bound `archive` (of `packed` bytes on disk) breaks."""
        total = 0
        for info in archive.infolist():
            total += info.file_size
            where = f"{name}:{info.filename}"
            if info.file_size > self.member_bytes:
                raise TooLarge(
                    f"{where} expands to {_size(info.file_size)}, over the {_size(self.member_bytes)} "
                    "a zip member may hold (MCP_RAG_IMPORT_MAX_MEMBER_BYTES)"
                )
            if info.file_size > RATIO_FLOOR and info.file_size > self.ratio * max(info.compress_size, 1):
                raise TooLarge(
                    f"{where} expands {info.file_size // max(info.compress_size, 1):,} times "
                    f"({_size(info.compress_size)} to {_size(info.file_size)}), over the {self.ratio}:1 "
                    "allowed (MCP_RAG_IMPORT_MAX_RATIO): a zip bomb, or an export to unzip first"
                )
        if total > self.archive_bytes:
            raise TooLarge(
                f"{name} expands to {_size(total)}, over the {_size(self.archive_bytes)} "
                "one import may unpack (MCP_RAG_IMPORT_MAX_ARCHIVE_BYTES)"
            )
        if total > RATIO_FLOOR and total > self.ratio * max(packed, 1):
            raise TooLarge(
                f"{name} expands {total // max(packed, 1):,} times ({_size(packed)} to {_size(total)}), "
                f"over the {self.ratio}:1 allowed (MCP_RAG_IMPORT_MAX_RATIO)"
            )

    def check_path(self, path: Path, name: str, allowed: Callable[[Path], bool] | None = None) -> None:
        """Check a zip on disk, or every `.zip` below a folder (those `allowed` lets the import
        read); other files, and damaged zips (reported when read), pass."""
        if path.is_dir():
            for file in sorted(path.rglob("*.zip")):
                if file.is_file() and (allowed is None or allowed(file.resolve())):
                    self.check_path(file, f"{name}/{file.relative_to(path).as_posix()}")
            return
        try:
            with zipfile.ZipFile(path) as archive:
                self.check(archive, name, path.stat().st_size)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            return


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"
