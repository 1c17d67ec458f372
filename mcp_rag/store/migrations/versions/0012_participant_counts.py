"""participant_counts: each namespace's participant names, for resolving an author filter.

A search filtered by an author first resolves the name to the stored names it
means (mcp_rag/lookup.py), which read every participant of every conversation
of the namespace: 40-55 ms at 10,000 conversations of 50 participants, more
than the filtered search itself. This table holds each namespace's distinct
names with the number of conversations that have them, kept by statement-level
triggers on conversations (insert, update, delete, and the cascade from a
deleted namespace through the foreign key). Rows are upserted in name order; the
writers that change participants (ingest, delete) hold the namespace's
statistics lock (`chunks.lock_term_stats`) meanwhile.

A source filter resolves against the namespace's distinct sources the same way;
an index on conversations (namespace, source) lets it skip from one source to
the next instead of reading every conversation.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The change in conversations per (namespace, name) of a statement's old and new rows.
DELTA = """
    SELECT namespace, name, sum(n) AS n FROM (
        {rows}
    ) d GROUP BY namespace, name HAVING sum(n) <> 0
"""
NEW = "SELECT namespace, unnest(participants) AS name, 1 AS n FROM new_rows"
OLD = "SELECT namespace, unnest(participants) AS name, -1 AS n FROM old_rows"


def _function(name: str, rows: str) -> str:
    """A trigger function adding a statement's change to the counts. Only names gained
    insert rows: names lost update the rows there are (a namespace's delete has already
    removed its rows through the foreign key when the cascade to conversations fires)."""
    delta = DELTA.format(rows=rows)
    return f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO participant_counts AS p (namespace, name, conversations)
            SELECT namespace, name, n FROM ({delta}) d WHERE n > 0 ORDER BY namespace, name
            ON CONFLICT (namespace, name) DO UPDATE SET conversations = p.conversations + EXCLUDED.conversations;
            UPDATE participant_counts p SET conversations = p.conversations + d.n FROM ({delta}) d
            WHERE d.n < 0 AND p.namespace = d.namespace AND p.name = d.name;
            DELETE FROM participant_counts p USING ({delta}) d
            WHERE d.n < 0 AND p.namespace = d.namespace AND p.name = d.name AND p.conversations <= 0;
            RETURN NULL;
        END $$
    """


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE participant_counts (
            namespace      text NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
            name           text NOT NULL,
            conversations  integer NOT NULL,
            PRIMARY KEY (namespace, name)
        )
        """
    )
    op.execute(_function("participant_counts_insert", NEW))
    op.execute(_function("participant_counts_update", f"{NEW} UNION ALL {OLD}"))
    op.execute(_function("participant_counts_delete", OLD))
    op.execute(
        "CREATE TRIGGER participant_counts_insert AFTER INSERT ON conversations REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION participant_counts_insert()"
    )
    op.execute(
        "CREATE TRIGGER participant_counts_update AFTER UPDATE ON conversations "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION participant_counts_update()"
    )
    op.execute(
        "CREATE TRIGGER participant_counts_delete AFTER DELETE ON conversations REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION participant_counts_delete()"
    )
    op.execute("CREATE INDEX conversations_namespace_source ON conversations (namespace, source)")
    op.execute(
        "INSERT INTO participant_counts (namespace, name, conversations) "
        "SELECT namespace, name, count(*) FROM conversations, unnest(participants) AS name "
        "GROUP BY namespace, name ORDER BY namespace, name"
    )


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS participant_counts_{event} ON conversations")
        op.execute(f"DROP FUNCTION IF EXISTS participant_counts_{event}()")
    op.execute("DROP TABLE IF EXISTS participant_counts")
    op.execute("DROP INDEX IF EXISTS conversations_namespace_source")
