"""Sync cursors: how far a live sync (Slack today) has stored each channel.

A cursor is advanced in its own transaction only after the batch it covers
is committed, so a failed batch is fetched again and, ingest being
idempotent, stored once.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE sync_cursors (
            namespace   text NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
            source      text NOT NULL,
            key         text NOT NULL,
            cursor      text NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (namespace, source, key)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE sync_cursors")
