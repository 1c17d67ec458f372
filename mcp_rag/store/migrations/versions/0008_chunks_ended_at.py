"""An index on chunks (namespace, ended_at), for searches since a time.

A search filtered by a time or an author ranks the chunks that match exactly
when that is cheaper than walking the HNSW graph (mcp_rag/store/arms.py,
`ranks_exactly`). Exact ranking needs the matches
found through an index: `until` has (namespace, started_at) since 0001 and an
author the GIN index on authors; `since` compares `ended_at`, which had none
(docs/design/exact-vs-graph-ranking.md).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS chunks_namespace_ended ON chunks (namespace, ended_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS chunks_namespace_ended")
