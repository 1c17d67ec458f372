"""chunk_bits: a narrow, binary-quantized copy of each chunk's vector beside the filter columns.

A filtered search ranks the chunks a filter keeps. Read from `chunks`, each
match drags its text and its float vector along (~2 KB a row, a page each
when an author's turns are scattered): at 1M chunks one author's 20,000
matches took 150-300 ms to rank. This table holds the chunk id, the columns
the search filters use, and the sign bits of the vector (pgvector's
`binary_quantize`, 48 bytes at 384 dimensions): ~200 B a row, 195 MB at 1M chunks
(418 MB with its indexes). Search ranks a filter's matches by Hamming distance here
and re-ranks the best few hundred by their full vectors (mcp_rag/store/arms.py,
docs/design/exact-vs-graph-ranking.md).

chunks stays the record (ingest, COPY and reindex write only it):
- an AFTER INSERT statement trigger copies new chunks that have a vector;
- an AFTER UPDATE statement trigger copies updated ones again (reindex
  rewrites the vectors; a chunk left without one leaves the copy);
- the foreign key deletes the copy with its chunk (and TRUNCATE ... CASCADE
  reaches it).

The indexes the filters use (authors, the namespace's start and end times)
move here from chunks, whose searches walk the HNSW graph and check filters
row by row; one on conversation_id serves metadata filters. Existing chunks
are copied.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = "namespace, conversation_id, source, authors, roles, started_at, ended_at"
COPY = f"SELECT id, {COLUMNS}, binary_quantize(embedding) FROM {{table}} WHERE embedding IS NOT NULL"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE chunk_bits (
            chunk_id         bigint PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
            namespace        text NOT NULL,
            conversation_id  uuid NOT NULL,
            source           text,
            authors          text[] NOT NULL,
            roles            text[] NOT NULL,
            started_at       timestamptz,
            ended_at         timestamptz,
            bits             bit varying NOT NULL
        )
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION chunk_bits_add() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO chunk_bits (chunk_id, {COLUMNS}, bits) {COPY.format(table="new_chunks")};
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION chunk_bits_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM chunk_bits WHERE chunk_id IN (SELECT id FROM new_chunks);
            INSERT INTO chunk_bits (chunk_id, {COLUMNS}, bits) {COPY.format(table="new_chunks")};
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER chunk_bits_insert AFTER INSERT ON chunks REFERENCING NEW TABLE AS new_chunks "
        "FOR EACH STATEMENT EXECUTE FUNCTION chunk_bits_add()"
    )
    op.execute(
        "CREATE TRIGGER chunk_bits_update AFTER UPDATE ON chunks REFERENCING NEW TABLE AS new_chunks "
        "FOR EACH STATEMENT EXECUTE FUNCTION chunk_bits_update()"
    )
    op.execute(f"INSERT INTO chunk_bits (chunk_id, {COLUMNS}, bits) {COPY.format(table='chunks')} ORDER BY id")
    # A chunk of one author (one turn: nearly all) is found, with its bits, in this index alone (an
    # index-only scan): one author's turns lie one to a page of the table, and reading those pages
    # cost more than ranking them. Chunks of several authors are found through the partial GIN.
    op.execute("CREATE INDEX chunk_bits_author ON chunk_bits (namespace, authors) INCLUDE (chunk_id, bits)")
    op.execute("CREATE INDEX chunk_bits_authors ON chunk_bits USING gin (authors) WHERE cardinality(authors) > 1")
    op.execute("CREATE INDEX chunk_bits_namespace_started ON chunk_bits (namespace, started_at)")
    op.execute("CREATE INDEX chunk_bits_namespace_ended ON chunk_bits (namespace, ended_at)")
    op.execute("CREATE INDEX chunk_bits_conversation ON chunk_bits (conversation_id)")
    op.execute("DROP INDEX IF EXISTS chunks_authors")
    op.execute("DROP INDEX IF EXISTS chunks_namespace_started")
    op.execute("DROP INDEX IF EXISTS chunks_namespace_ended")
    op.execute("ANALYZE chunk_bits")


def downgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS chunks_authors ON chunks USING gin (authors)")
    op.execute("CREATE INDEX IF NOT EXISTS chunks_namespace_started ON chunks (namespace, started_at)")
    op.execute("CREATE INDEX IF NOT EXISTS chunks_namespace_ended ON chunks (namespace, ended_at)")
    op.execute("DROP TRIGGER IF EXISTS chunk_bits_insert ON chunks")
    op.execute("DROP TRIGGER IF EXISTS chunk_bits_update ON chunks")
    op.execute("DROP FUNCTION IF EXISTS chunk_bits_add()")
    op.execute("DROP FUNCTION IF EXISTS chunk_bits_update()")
    op.execute("DROP TABLE IF EXISTS chunk_bits")
