"""API tokens (hashed) and the audit log.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE api_tokens (
            id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            name          text NOT NULL DEFAULT '',
            namespace     text NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
            scopes        text[] NOT NULL,
            token_hash    text NOT NULL UNIQUE,
            prefix        text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            last_used_at  timestamptz,
            revoked_at    timestamptz
        )
        """
    )
    op.execute(
        """
        CREATE TABLE audit_log (
            id         bigserial PRIMARY KEY,
            at         timestamptz NOT NULL DEFAULT now(),
            actor      text NOT NULL,
            namespace  text NOT NULL,
            action     text NOT NULL,
            target     text,
            details    jsonb NOT NULL DEFAULT '{}'
        )
        """
    )
    op.execute("CREATE INDEX audit_log_namespace_at ON audit_log (namespace, at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS audit_log")
    op.execute("DROP TABLE IF EXISTS api_tokens")
