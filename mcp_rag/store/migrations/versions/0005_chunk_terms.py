"""chunk_terms: a narrow copy of what the BM25 arm reads, so it stops reading chunks.

The BM25 arm scores every chunk that shares a term with the query (often 10%
or more of a namespace: conversation words are common ones). Read from
`chunks`, each of those rows drags its text and its inline 384-d vector along
(~1.5 KB, ~5 rows a page), so the arm visited most of the table's pages. This
table holds only the chunk id, the columns the search filters use, and the
term ids and BM25 vector: ~300 B a row instead of ~1.5 KB, 36 MB with its
index at 100k chunks, small enough to stay in shared buffers. Scores are the
same numbers (the same bm25 values, copied).

chunks stays the record (ingest, COPY and reindex write only it):
- an AFTER INSERT statement trigger copies new chunks that have terms
  (a chunk with none cannot match a query);
- the foreign key deletes the copy with its chunk (and TRUNCATE ... CASCADE
  reaches it);
- chunks are never updated in the copied columns (reindex rewrites embeddings
  only), so no update trigger is needed.

The GIN index on chunks.terms moves here; existing chunks are copied.
The unused tsvector column of 0001 (the `ts_rank` arm that BM25 replaced) and
its GIN index go too: every insert paid for them.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = "namespace, conversation_id, source, authors, roles, started_at, ended_at, terms, bm25"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE chunk_terms (
            chunk_id         bigint PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
            namespace        text NOT NULL,
            conversation_id  uuid NOT NULL,
            source           text,
            authors          text[] NOT NULL,
            roles            text[] NOT NULL,
            started_at       timestamptz,
            ended_at         timestamptz,
            terms            integer[] NOT NULL,
            bm25             sparsevec NOT NULL
        )
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION chunk_terms_add() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO chunk_terms (chunk_id, {COLUMNS})
            SELECT id, {COLUMNS} FROM new_chunks
            WHERE cardinality(terms) > 0 AND bm25 IS NOT NULL;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER chunk_terms_insert AFTER INSERT ON chunks REFERENCING NEW TABLE AS new_chunks "
        "FOR EACH STATEMENT EXECUTE FUNCTION chunk_terms_add()"
    )
    op.execute(
        f"INSERT INTO chunk_terms (chunk_id, {COLUMNS}) SELECT id, {COLUMNS} FROM chunks "
        "WHERE cardinality(terms) > 0 AND bm25 IS NOT NULL ORDER BY id"
    )
    op.execute("CREATE INDEX chunk_terms_terms ON chunk_terms USING gin (terms)")
    op.execute("DROP INDEX IF EXISTS chunks_terms")
    op.execute("DROP INDEX IF EXISTS chunks_tsv")
    op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS tsv")
    op.execute("ANALYZE chunk_terms")


def downgrade() -> None:
    op.execute("ALTER TABLE chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED")
    op.execute("CREATE INDEX chunks_tsv ON chunks USING gin (tsv)")
    op.execute("CREATE INDEX chunks_terms ON chunks USING gin (terms)")
    op.execute("DROP TRIGGER IF EXISTS chunk_terms_insert ON chunks")
    op.execute("DROP FUNCTION IF EXISTS chunk_terms_add()")
    op.execute("DROP TABLE IF EXISTS chunk_terms")
