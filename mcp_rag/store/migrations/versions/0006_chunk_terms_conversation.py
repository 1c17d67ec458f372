"""An index on chunk_terms.conversation_id, for searches scoped to one conversation.

A search inside one conversation scores BM25 exactly over that conversation's
chunks, however common the query's words are in the whole namespace
(mcp_rag/store/arms.py, `lexical_arm`). With this index PostgreSQL finds
them by conversation (a BitmapAnd with the terms' GIN index) instead of
reading every chunk in the namespace that shares a term and filtering, so the
cost grows with the conversation, not the namespace
(docs/design/bm25-in-postgresql.md).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS chunk_terms_conversation ON chunk_terms (conversation_id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS chunk_terms_conversation")
