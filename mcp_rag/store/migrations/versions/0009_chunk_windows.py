"""chunk_windows: overlapping windows of turns, a coarser unit for the window arm.

A question about something said over several turns ("which cities have both
been to?") often matches no single turn well, while the window holding those
turns shares most of its words. Search ranks these windows by BM25 (and by
the vector arm's hits inside them), and resolves each hit to its turns
closest to the query (mcp_rag/search/windows.py).
A window is never returned itself: it only votes for its turns.

Each row covers the chunks whose first_seq lies in [first_seq, last_seq] of
one conversation, with the filter columns of chunk_terms (so the same WHERE
clause applies) and the window's term ids and BM25 vector. The foreign key
deletes windows with their conversation. Conversations stored before this
table existed, or while the arm was off, have no windows until `mcp-rag
reindex`; search works without them.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE chunk_windows (
            id               bigserial PRIMARY KEY,
            conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            namespace        text NOT NULL,
            source           text,
            first_seq        integer NOT NULL,
            last_seq         integer NOT NULL,
            authors          text[] NOT NULL,
            roles            text[] NOT NULL,
            started_at       timestamptz,
            ended_at         timestamptz,
            terms            integer[] NOT NULL,
            bm25             sparsevec NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX chunk_windows_conversation ON chunk_windows (conversation_id, first_seq)")
    op.execute("CREATE INDEX chunk_windows_terms ON chunk_windows USING gin (terms)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS chunk_windows")
