"""Start-up and schema readiness, and maintenance mode, against the real embedded PostgreSQL.

- `serve` on a database without the schema waits (with back-off) instead of
  exiting, and is ready once the migrations have run.
- /ready is 503 while the schema is older than the release, 200 at its head
  or at a newer revision (written by the next release).
- While the migration script's maintenance lock is held, writes get 503 with
  Retry-After and change nothing; reads go on; writes come back after.
"""

from __future__ import annotations

import time

import httpx
import psycopg
import pytest
from server import Server
from sqlalchemy import text

from mcp_rag.store import db, maintenance
from mcp_rag.store.schema_state import incompatibility


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_serve_waits_for_the_schema_then_becomes_ready(scratch_url, tmp_path):
    server = Server(tmp_path, env={"DATABASE_URL": scratch_url, "MCP_RAG_AUTO_MIGRATE": "false"})
    try:
        deadline = time.monotonic() + 60
        while "database not ready" not in server.log.read_text():
            assert server.proc.poll() is None, server.log.read_text()
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.2)
        assert "no schema yet" in server.log.read_text()
        db.migrate(scratch_url)
        server.wait_ready(90)  # it kept waiting, and is ready now
        assert httpx.get(f"{server.url}/ready").json() == {"status": "ready"}
    finally:
        server.stop()


def test_serve_gives_up_after_its_wait_with_a_clear_error(scratch_url, tmp_path):
    server = Server(
        tmp_path, env={"DATABASE_URL": scratch_url, "MCP_RAG_AUTO_MIGRATE": "false", "MCP_RAG_DB_WAIT_SECONDS": "2"}
    )
    try:
        assert server.proc.wait(60) == 3
        assert "database not ready after" in server.log.read_text()
        assert "Traceback" not in server.log.read_text()
    finally:
        server.stop()


def test_readiness_follows_the_schema_revision(client, service):
    head = db.head_revision()
    assert incompatibility(head) is None
    assert incompatibility("a_revision_of_a_newer_release") is None
    assert "no schema yet" in incompatibility(None)
    with service.engine.begin() as conn:
        previous = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert previous == head
    from alembic.script import ScriptDirectory

    older = ScriptDirectory.from_config(db.alembic_config("postgresql://x")).get_revision(head).down_revision
    try:
        with service.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": older})
        r = client.get("/ready")
        assert r.status_code == 503 and "run the migrations" in r.json()["detail"]
        with service.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'z999_next_release'"))
        assert client.get("/ready").status_code == 200
    finally:
        with service.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


def conversation(ext: str) -> dict:
    return {"id": ext, "title": "t", "messages": [{"id": "1", "author": "Ada", "content": "snow in Colorado"}]}


def test_writes_are_held_while_the_maintenance_lock_is_taken(client, service):
    assert client.post("/v1/conversations", json=conversation("before")).status_code == 201
    url = psycopg_url(service.engine.url.render_as_string(hide_password=False))
    with psycopg.connect(url, autocommit=True) as script:
        script.execute("SELECT pg_advisory_lock(%s)", (maintenance.KEY,))  # what run-migrations.sh takes

        held = client.post("/v1/conversations", json=conversation("during"))
        deleted = client.delete("/v1/conversations/before")
        searched = client.get("/v1/search", params={"q": "Colorado"})

        assert held.status_code == 503 and held.headers["retry-after"]
        assert "being migrated" in held.json()["detail"]
        assert deleted.status_code == 503
        assert searched.status_code == 200 and searched.json()["hits"]  # reads go on
    # The server releases a closed session's locks a moment after the client has gone.
    with service.engine.connect() as conn:
        deadline = time.monotonic() + 30
        while conn.execute(text(f"SELECT count(*) FROM pg_locks WHERE objid = {maintenance.KEY}")).scalar():
            assert time.monotonic() < deadline
            conn.rollback()
            time.sleep(0.05)
    after = client.post("/v1/conversations", json=conversation("after"))
    assert after.status_code == 201, after.text
    with service.engine.connect() as conn:
        kept = conn.execute(text("SELECT external_id FROM conversations ORDER BY external_id")).scalars().all()
    assert kept == ["after", "before"]


def test_maintenance_waits_for_a_write_already_under_way(service):
    """The script's lock is granted only after a write that began before it commits."""
    url = psycopg_url(service.engine.url.render_as_string(hide_password=False))
    with service.engine.begin() as conn:
        conn.execute(text("INSERT INTO namespaces (name) VALUES ('under-way')"))  # takes the shared lock
        with psycopg.connect(url, autocommit=True) as script:
            got = script.execute("SELECT pg_try_advisory_lock(%s)", (maintenance.KEY,)).fetchone()[0]
            assert got is False
    with psycopg.connect(url, autocommit=True) as script:
        assert script.execute("SELECT pg_try_advisory_lock(%s)", (maintenance.KEY,)).fetchone()[0] is True


def test_the_revisions_read_from_the_migration_files_are_alembics():
    from alembic.script import ScriptDirectory

    from mcp_rag.store import revisions

    script = ScriptDirectory.from_config(db.alembic_config("postgresql://x"))
    assert revisions.head() == script.get_current_head()
    assert revisions.known() == {r.revision: tuple(r._all_down_revisions) for r in script.walk_revisions()}


def test_a_failed_migration_at_start_is_an_error_not_a_half_served_database(tmp_path, scratch_url):
    from mcp_rag.config import load_settings
    from mcp_rag.service import Service

    with db.make_engine(scratch_url, 1).begin() as conn:  # a revision no release has: alembic cannot upgrade it
        conn.execute(text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0000_unknown')"))
    service = Service(load_settings(data_dir=tmp_path, env="test", database_url=scratch_url))
    with pytest.raises(RuntimeError, match="the migrations failed"):
        service.ready()


def test_processes_starting_together_on_a_new_database_migrate_it_one_after_the_other(scratch_url):
    import threading

    failures: list[BaseException] = []

    def migrate() -> None:
        try:
            db.migrate_apart(scratch_url)
        except BaseException as exc:  # collected for the assertion
            failures.append(exc)

    starting = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join(300)
    assert failures == []
    engine = db.make_engine(scratch_url, 1)
    try:
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()
