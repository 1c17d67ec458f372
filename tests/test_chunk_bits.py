"""chunk_bits, the narrow binary-quantized copy filtered searches rank (migration
0011): always the same rows and values as chunks, whoever writes, re-embeds,
compacts or deletes them."""

from __future__ import annotations

from builders import conversation_row, make_conversation
from sqlalchemy import text

from mcp_rag.models import MessageIn, SearchFilters, SearchRequest
from mcp_rag.store import db, vector_index

COPIED = "namespace, conversation_id, source, authors, roles, started_at, ended_at"


def mismatches(conn) -> int:
    """Rows in one of chunks (those with a vector) and chunk_bits but not the other, or with other values."""
    return conn.execute(
        text(
            f"""
            SELECT count(*) FROM (
                (SELECT id, {COPIED}, binary_quantize(embedding)::text FROM chunks WHERE embedding IS NOT NULL
                 EXCEPT SELECT chunk_id, {COPIED}, bits::text FROM chunk_bits)
                UNION ALL
                (SELECT chunk_id, {COPIED}, bits::text FROM chunk_bits
                 EXCEPT SELECT id, {COPIED}, binary_quantize(embedding)::text FROM chunks WHERE embedding IS NOT NULL)
            ) d
            """
        )
    ).scalar_one()


def check(service) -> int:
    with service.engine.begin() as conn:
        assert mismatches(conn) == 0
        return conn.execute(text("SELECT count(*) FROM chunk_bits")).scalar_one()


def test_the_bits_copy_follows_ingest_append_reindex_compact_and_delete(service):
    service.ingest(make_conversation(source="slack"))
    service.ingest(make_conversation("conv-2"))
    first = check(service)
    assert first > 0

    service.append_messages("conv-1", [MessageIn(id="m4", author="Emi", content="Skiing again next week?")])
    assert check(service) > first
    with service.engine.begin() as conn:  # as a model switch finds them: vectors of another model
        conn.execute(text("UPDATE chunks SET embedding = array_fill(-0.05::real, ARRAY[384])::vector"))
        vector_index.register_model(conn, "some-other-model", 384)
    check(service)
    assert service.reindex() == check(service)
    service.compact()
    check(service)
    hits = service.search(SearchRequest(query="skiing", author="Kate", top_k=3)).hits
    assert hits and all(h.authors == ["Kate"] for h in hits)
    service.delete_conversation("conv-2")
    check(service)
    service.delete_conversation("conv-1")
    assert check(service) == 0


def test_migration_0011_copies_existing_chunks_and_its_downgrade_restores_0010(scratch_url):
    db.migrate(scratch_url, "0010")
    engine = db.make_engine(scratch_url, 1)
    vector = "[" + ",".join(["0.5", "-0.25", "0"] * 128) + "]"
    try:
        with engine.begin() as conn:
            cid = conversation_row(conn)
            conn.execute(
                text(
                    """
                    INSERT INTO chunks (conversation_id, namespace, source, first_seq, last_seq, message_ids,
                                        authors, text, embedding, terms, n_terms)
                    VALUES (:cid, 'default', 'slack', 1, 1, '{m1}', '{Kate}', 'skiing', CAST(:v AS vector), '{}', 0),
                           (:cid, 'default', 'slack', 2, 2, '{m2}', '{Emi}', 'not embedded', NULL, '{}', 0)
                    """
                ),
                {"cid": cid, "v": vector},
            )
        db.migrate(scratch_url)
        with engine.begin() as conn:
            assert mismatches(conn) == 0
            assert conn.execute(text("SELECT bits::text FROM chunk_bits")).scalar_one() == "100" * 128
            assert conn.execute(text("SELECT to_regclass('chunks_authors')")).scalar() is None
        db.downgrade(scratch_url, "0010")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT to_regclass('chunk_bits')")).scalar() is None
            for index in ("chunks_authors", "chunks_namespace_started", "chunks_namespace_ended"):
                assert conn.execute(text("SELECT to_regclass(:i)"), {"i": index}).scalar() is not None
        db.migrate(scratch_url)
        with engine.begin() as conn:
            assert mismatches(conn) == 0
            assert conn.execute(text("SELECT count(*) FROM chunk_bits")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_filtered_search_finds_chunks_written_after_the_copy_was_made(service):
    """Search reads chunk_bits for filtered searches: a new turn is found by author at once."""
    service.ingest(make_conversation())
    with service.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE chunk_bits"))  # the rule ranks by bits once the table has statistics
    service.append_messages("conv-1", [MessageIn(id="m4", author="Lou", content="The avalanche closed the pass.")])
    filters = SearchFilters(author="Lou")
    result = service.search(SearchRequest(query="avalanche", **filters.model_dump(exclude_none=True)))
    assert [h.message_ids for h in result.hits] == [["m4"]]


def counted_participants(conn) -> list[tuple]:
    return conn.execute(text("SELECT namespace, name, conversations FROM participant_counts ORDER BY 1, 2")).all()


def stored_participants(conn) -> list[tuple]:
    return conn.execute(
        text(
            "SELECT namespace, name, count(*) FROM conversations, unnest(participants) AS name "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        )
    ).all()


def test_participant_counts_follow_ingest_append_and_delete(service):
    """The names author filters resolve against (migration 0012) are the conversations'
    participants, counted, whoever adds or removes them."""

    def check() -> list[tuple]:
        with service.engine.begin() as conn:
            counted = counted_participants(conn)
            assert counted == stored_participants(conn)
            return counted

    service.ingest(make_conversation())
    service.ingest(make_conversation("conv-2"), namespace="team")
    assert check() == [("default", "Emi", 1), ("default", "Kate", 1), ("team", "Emi", 1), ("team", "Kate", 1)]
    service.append_messages("conv-1", [MessageIn(id="m4", author="Lou", content="Count me in.")])
    assert ("default", "Lou", 1) in check()
    service.ingest(make_conversation("conv-3"))
    assert ("default", "Kate", 2) in check()
    service.delete_conversation("conv-1")
    assert ("default", "Lou", 1) not in check()
    with service.engine.begin() as conn:
        conn.execute(text("DELETE FROM namespaces WHERE name = 'team'"))
    assert check() == [("default", "Emi", 1), ("default", "Kate", 1)]


def test_migration_0012_counts_existing_participants_and_its_downgrade_drops_them(scratch_url):
    db.migrate(scratch_url, "0011")
    engine = db.make_engine(scratch_url, 1)
    try:
        with engine.begin() as conn:
            for external_id, people in (("a", "{Kate,Emi}"), ("b", "{Kate}")):
                cid = conversation_row(conn, external_id)
                update = text("UPDATE conversations SET participants = :p WHERE id = :id")
                conn.execute(update, {"p": people, "id": cid})
        db.migrate(scratch_url)
        with engine.begin() as conn:
            assert counted_participants(conn) == [("default", "Emi", 1), ("default", "Kate", 2)]
        db.downgrade(scratch_url, "0011")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT to_regclass('participant_counts')")).scalar() is None
            assert conn.execute(text("SELECT to_regclass('conversations_namespace_source')")).scalar() is None
        db.migrate(scratch_url)
        with engine.begin() as conn:
            assert counted_participants(conn) == stored_participants(conn)
    finally:
        engine.dispose()


def test_a_namespaces_sources_are_its_distinct_ones(service):
    """Source filters resolve against these (read by skipping through an index, migration 0012)."""
    from mcp_rag.store import conversations as conv_sql

    for n, source in enumerate(["slack", "email", "slack", None, "chatgpt"]):
        service.ingest(make_conversation(f"c{n}", **({"source": source} if source else {})))
    service.ingest(make_conversation("other", source="teams"), namespace="team")
    with service.engine.begin() as conn:
        assert conv_sql.sources(conn, "default") == ["chatgpt", "email", "slack"]
        assert conv_sql.sources(conn, "team") == ["teams"]
        assert conv_sql.sources(conn, "nobody") == []
