"""Initial schema: namespaces, conversations, messages, chunks, embedding model.

The HNSW index on chunks.embedding is created by the store once the embedding
model (and so the vector dimension) is known; see store.vector_index.ensure_vector_index.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        """
        CREATE TABLE namespaces (
            name        text PRIMARY KEY,
            created_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("INSERT INTO namespaces (name) VALUES ('default')")
    op.execute(
        """
        CREATE TABLE conversations (
            id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            namespace     text NOT NULL REFERENCES namespaces(name) ON DELETE CASCADE,
            external_id   text NOT NULL,
            title         text,
            source        text,
            url           text,
            participants  text[] NOT NULL DEFAULT '{}',
            metadata      jsonb NOT NULL DEFAULT '{}',
            started_at    timestamptz,
            ended_at      timestamptz,
            message_count integer NOT NULL DEFAULT 0,
            content_hash  text,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            UNIQUE (namespace, external_id)
        )
        """
    )
    op.execute("CREATE INDEX conversations_namespace_started ON conversations (namespace, started_at)")
    op.execute("CREATE INDEX conversations_namespace_created ON conversations (namespace, created_at, id)")
    op.execute(
        """
        CREATE TABLE messages (
            id               bigserial PRIMARY KEY,
            conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            seq              integer NOT NULL,
            external_id      text NOT NULL,
            author           text,
            role             text,
            content          text NOT NULL,
            "timestamp"      timestamptz,
            metadata         jsonb NOT NULL DEFAULT '{}',
            UNIQUE (conversation_id, seq),
            UNIQUE (conversation_id, external_id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE chunks (
            id               bigserial PRIMARY KEY,
            conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            namespace        text NOT NULL,
            source           text,
            first_seq        integer NOT NULL,
            last_seq         integer NOT NULL,
            message_ids      text[] NOT NULL,
            authors          text[] NOT NULL DEFAULT '{}',
            roles            text[] NOT NULL DEFAULT '{}',
            started_at       timestamptz,
            ended_at         timestamptz,
            text             text NOT NULL,
            embedding        vector,
            tsv              tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
        )
        """
    )
    op.execute("CREATE INDEX chunks_conversation ON chunks (conversation_id, first_seq)")
    op.execute("CREATE INDEX chunks_namespace_started ON chunks (namespace, started_at)")
    op.execute("CREATE INDEX chunks_authors ON chunks USING gin (authors)")
    op.execute("CREATE INDEX chunks_tsv ON chunks USING gin (tsv)")
    op.execute(
        """
        CREATE TABLE embedding_models (
            id          integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
            name        text NOT NULL,
            dimension   integer NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS embedding_models")
    op.execute("DROP TABLE IF EXISTS chunks")
    op.execute("DROP TABLE IF EXISTS messages")
    op.execute("DROP TABLE IF EXISTS conversations")
    op.execute("DROP TABLE IF EXISTS namespaces")
