"""chunk_terms, the narrow copy the BM25 arm reads (migration 0005): always the
same rows and values as chunks, whoever writes or deletes them."""

from __future__ import annotations

from builders import conversation_row, make_conversation
from sqlalchemy import text

from mcp_rag.models import MessageIn
from mcp_rag.store import db

COPIED = "namespace, conversation_id, source, authors, roles, started_at, ended_at, terms, bm25::text"


def mismatches(conn) -> int:
    """Rows in one of chunks (those with terms) and chunk_terms but not the other, or with other values."""
    return conn.execute(
        text(
            f"""
            SELECT count(*) FROM (
                (SELECT id, {COPIED} FROM chunks WHERE cardinality(terms) > 0
                 EXCEPT SELECT chunk_id, {COPIED} FROM chunk_terms)
                UNION ALL
                (SELECT chunk_id, {COPIED} FROM chunk_terms
                 EXCEPT SELECT id, {COPIED} FROM chunks WHERE cardinality(terms) > 0)
            ) d
            """
        )
    ).scalar_one()


def test_the_bm25_copy_follows_ingest_append_reingest_and_delete(service):
    def check() -> int:
        with service.engine.begin() as conn:
            assert mismatches(conn) == 0
            return conn.execute(text("SELECT count(*) FROM chunk_terms")).scalar_one()

    service.ingest(make_conversation(source="slack"))
    service.ingest(make_conversation("conv-2"))
    first = check()
    assert first > 0

    service.append_messages("conv-1", [MessageIn(id="m4", author="Emi", content="Skiing again next week?")])
    assert check() >= first
    service.delete_conversation("conv-2")
    check()
    service.delete_conversation("conv-1")
    assert check() == 0


def test_migration_0005_copies_existing_chunks_and_its_downgrade_restores_0004(scratch_url):
    db.migrate(scratch_url, "0004")
    engine = db.make_engine(scratch_url, 1)
    try:
        with engine.begin() as conn:
            cid = conversation_row(conn)
            conn.execute(
                text(
                    """
                    INSERT INTO chunks (conversation_id, namespace, source, first_seq, last_seq, message_ids,
                                        authors, text, terms, n_terms, bm25)
                    VALUES (:cid, 'default', 'slack', 1, 1, '{m1}', '{Kate}', 'skiing in Colorado',
                            '{11,22}', 2, '{11:0.5,22:0.75}/536870912'),
                           (:cid, 'default', 'slack', 2, 2, '{m2}', '{Emi}', 'written before 0003', '{}', 0, NULL)
                    """
                ),
                {"cid": cid},
            )
        db.migrate(scratch_url)
        with engine.begin() as conn:
            assert mismatches(conn) == 0
            assert conn.execute(text("SELECT chunk_id, terms FROM chunk_terms")).one()[1] == [11, 22]
        db.downgrade(scratch_url, "0004")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT to_regclass('chunk_terms')")).scalar() is None
            assert conn.execute(text("SELECT to_regclass('chunks_terms')")).scalar() is not None
            tsv = conn.execute(text("SELECT tsv::text FROM chunks WHERE first_seq = 1")).scalar()
            assert tsv == "'colorado':3 'ski':1"
        db.migrate(scratch_url)
        with engine.begin() as conn:
            assert mismatches(conn) == 0
            assert conn.execute(text("SELECT count(*) FROM chunk_terms")).scalar_one() == 1
    finally:
        engine.dispose()
