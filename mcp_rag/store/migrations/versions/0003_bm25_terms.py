"""BM25 inside PostgreSQL: term vectors on chunks and corpus statistics.

- chunks.terms: the chunk's distinct term ids (GIN): which chunks share a word
  with the query, found by index.
- chunks.bm25: sparsevec of saturated, length-normalised term frequencies;
  its inner product with the query's idf vector is the BM25 score.
- chunks.n_terms: the chunk's length in terms (for avgdl).
- term_stats / corpus_stats: document frequency per term and chunk count and
  length per namespace, kept by statement-level triggers, so every insert and
  delete (including cascades from a deleted conversation) keeps them exact.

Chunks written before this revision have no term vector, so only the vector
arm finds them until their conversation is re-ingested (deleted and sent again).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE chunks ADD COLUMN terms integer[] NOT NULL DEFAULT '{}'")
    op.execute("ALTER TABLE chunks ADD COLUMN n_terms integer NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE chunks ADD COLUMN bm25 sparsevec")
    op.execute("CREATE INDEX chunks_terms ON chunks USING gin (terms)")
    op.execute(
        """
        CREATE TABLE term_stats (
            namespace  text NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
            term       integer NOT NULL,
            df         integer NOT NULL,
            PRIMARY KEY (namespace, term)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE corpus_stats (
            namespace  text PRIMARY KEY REFERENCES namespaces(name) ON DELETE CASCADE,
            chunks     bigint NOT NULL DEFAULT 0,
            terms      bigint NOT NULL DEFAULT 0
        )
        """
    )
    # Rows are upserted in term order so that two concurrent ingests lock shared
    # term rows in the same order and cannot deadlock.
    op.execute(
        """
        CREATE FUNCTION chunks_stats_add() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO term_stats (namespace, term, df)
            SELECT namespace, term, count(*) FROM new_chunks, unnest(terms) AS term
            GROUP BY namespace, term ORDER BY namespace, term
            ON CONFLICT (namespace, term) DO UPDATE SET df = term_stats.df + EXCLUDED.df;
            INSERT INTO corpus_stats (namespace, chunks, terms)
            SELECT namespace, count(*), sum(n_terms) FROM new_chunks GROUP BY namespace ORDER BY namespace
            ON CONFLICT (namespace) DO UPDATE
            SET chunks = corpus_stats.chunks + EXCLUDED.chunks, terms = corpus_stats.terms + EXCLUDED.terms;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION chunks_stats_remove() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE term_stats s SET df = s.df - d.n
            FROM (SELECT namespace, term, count(*) AS n FROM old_chunks, unnest(terms) AS term
                  GROUP BY namespace, term ORDER BY namespace, term) d
            WHERE s.namespace = d.namespace AND s.term = d.term;
            DELETE FROM term_stats WHERE df <= 0;
            UPDATE corpus_stats s SET chunks = s.chunks - d.n, terms = s.terms - d.t
            FROM (SELECT namespace, count(*) AS n, sum(n_terms) AS t FROM old_chunks GROUP BY namespace) d
            WHERE s.namespace = d.namespace;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER chunks_stats_insert AFTER INSERT ON chunks REFERENCING NEW TABLE AS new_chunks "
        "FOR EACH STATEMENT EXECUTE FUNCTION chunks_stats_add()"
    )
    op.execute(
        "CREATE TRIGGER chunks_stats_delete AFTER DELETE ON chunks REFERENCING OLD TABLE AS old_chunks "
        "FOR EACH STATEMENT EXECUTE FUNCTION chunks_stats_remove()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS chunks_stats_delete ON chunks")
    op.execute("DROP TRIGGER IF EXISTS chunks_stats_insert ON chunks")
    op.execute("DROP FUNCTION IF EXISTS chunks_stats_remove()")
    op.execute("DROP FUNCTION IF EXISTS chunks_stats_add()")
    op.execute("DROP TABLE IF EXISTS corpus_stats")
    op.execute("DROP TABLE IF EXISTS term_stats")
    op.execute("DROP INDEX IF EXISTS chunks_terms")
    op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS bm25")
    op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS n_terms")
    op.execute("ALTER TABLE chunks DROP COLUMN IF EXISTS terms")
