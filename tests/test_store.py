"""Migrations and the embedding-model record, on the real embedded PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mcp_rag.store import db


def tables(url: str) -> set[str]:
    engine = db.make_engine(url, 1)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
        result = set(rows)
    engine.dispose()
    return result


def test_migrations_upgrade_downgrade_upgrade(scratch_url):
    db.migrate(scratch_url)
    assert {"conversations", "messages", "chunks", "embedding_models", "namespaces"} <= tables(scratch_url)
    db.downgrade(scratch_url, "base")
    assert tables(scratch_url) <= {"alembic_version"}
    db.migrate(scratch_url)
    engine = db.make_engine(scratch_url, 1)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_a_changed_embedding_model_is_detected_and_reindex_fixes_it(service):
    from builders import make_conversation

    from mcp_rag.errors import Conflict
    from mcp_rag.models import SearchRequest
    from mcp_rag.store import chunks as chunk_sql

    service.ingest(make_conversation())
    with service.engine.begin() as conn:
        chunk_sql.register_model(conn, "some-other-model", 768)
    service._model_checked = False
    with pytest.raises(Conflict, match="reindex"):
        service.search(SearchRequest(query="skiing"))
    seen = []
    assert service.reindex(lambda done, total: seen.append((done, total))) == 3  # one chunk per turn
    assert seen == [(3, 3)]
    assert service.search(SearchRequest(query="skiing")).hits
    with service.engine.connect() as conn:
        assert chunk_sql.registered_model(conn) == ("all-MiniLM-L6-v2", 384)
