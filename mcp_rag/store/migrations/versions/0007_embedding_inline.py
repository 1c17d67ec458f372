"""Keep each chunk's embedding inside its row: storage MAIN instead of pgvector's EXTERNAL.

pgvector gives `vector` EXTERNAL storage. When a row passes ~2 kB, PostgreSQL
moves its largest such value out of line into the TOAST table, and a
384-dimension embedding (1.5 kB) is the largest value of a chunk row: in the
100k-chunk benchmark half the rows had theirs out of line. Every distance that
PostgreSQL computes from the row rather than from the HNSW index (a filter it
ranks exactly, such as one author, and searches inside a conversation) then
read a TOAST index entry and a TOAST page besides the row. With MAIN,
PostgreSQL compresses or moves the text out of line first and the embedding
stays in the row; the text is read for the ten hits a search returns only.

Only rows written from now on take the new layout: rewriting the existing ones
rebuilds every index on chunks, the HNSW graph too, under an exclusive lock
(35 s at 100k chunks), which could outlast the migration script's timeout.
`mcp-rag db compact` rewrites them when convenient (docs/RUNBOOK.md).

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE MAIN")


def downgrade() -> None:
    op.execute("ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE EXTERNAL")
