"""Migrations and the embedding-model record, on the real embedded PostgreSQL."""

from __future__ import annotations

import pytest
from builders import conversation_row
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
    from mcp_rag.store import vector_index

    service.ingest(make_conversation())
    with service.engine.begin() as conn:
        vector_index.register_model(conn, "some-other-model", 768)
    service._model_checked = False
    with pytest.raises(Conflict, match="reindex"):
        service.search(SearchRequest(query="skiing"))
    seen = []
    assert service.reindex(lambda done, total: seen.append((done, total))) == 3  # one chunk per turn
    assert seen == [(3, 3)]
    assert service.search(SearchRequest(query="skiing")).hits
    with service.engine.connect() as conn:
        assert vector_index.registered_model(conn) == ("all-MiniLM-L6-v2", 384)


def test_migration_0007_keeps_embeddings_in_the_row_and_compact_moves_older_ones_in(scratch_url):
    """pgvector's EXTERNAL storage moves an embedding out of line (TOAST) in a row past
    ~2 kB; from 0007 the text goes out instead. Rows written before keep their
    layout until `compact` rewrites them; downgrading restores EXTERNAL."""
    from mcp_rag.store import vector_index

    def add_chunk(conn, cid, seq: int) -> None:
        # 640 characters of hex digits: text that pglz cannot shrink, so the row stays past ~2 kB.
        conn.execute(
            text(
                """
                INSERT INTO chunks (conversation_id, namespace, first_seq, last_seq, message_ids, text, embedding)
                SELECT :cid, 'default', :seq, :seq, ARRAY[CAST(:seq AS text)],
                       (SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 20) g),
                       (SELECT array_agg(random())::vector FROM generate_series(1, 384))
                """
            ),
            {"cid": cid, "seq": seq},
        )

    def out_of_line(conn) -> list[int]:
        return list(
            conn.execute(
                text("SELECT first_seq FROM chunks WHERE pg_column_toast_chunk_id(embedding) IS NOT NULL ORDER BY 1")
            ).scalars()
        )

    def storage(conn) -> str:
        return conn.execute(
            text("SELECT attstorage FROM pg_attribute WHERE attrelid = 'chunks'::regclass AND attname = 'embedding'")
        ).scalar_one()

    db.migrate(scratch_url, "0006")
    engine = db.make_engine(scratch_url, 1)
    try:
        with engine.begin() as conn:
            cid = conversation_row(conn)
            add_chunk(conn, cid, 1)
            assert out_of_line(conn) == [1] and storage(conn) == "e"
        db.migrate(scratch_url)
        with engine.begin() as conn:
            add_chunk(conn, cid, 2)
            assert out_of_line(conn) == [1] and storage(conn) == "m"
            vectors = conn.execute(text("SELECT first_seq, embedding::text FROM chunks ORDER BY 1")).all()
        with engine.connect() as conn:
            vector_index.compact(conn.execution_options(isolation_level="AUTOCOMMIT"), "96MB")
        with engine.begin() as conn:
            assert out_of_line(conn) == []
            assert conn.execute(text("SELECT first_seq, embedding::text FROM chunks ORDER BY 1")).all() == vectors
            assert conn.execute(text("SELECT current_setting('maintenance_work_mem')")).scalar() != "96MB"
        db.downgrade(scratch_url, "0006")
        with engine.begin() as conn:
            assert storage(conn) == "e"
            add_chunk(conn, cid, 3)
            assert out_of_line(conn) == [3]
    finally:
        engine.dispose()
