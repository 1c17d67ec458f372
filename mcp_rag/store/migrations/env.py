"""Alembic environment: runs the migrations online against the given URL."""

from alembic import context
from sqlalchemy import create_engine, pool, text

# Processes starting on one new database (replicas, a server and a CLI) migrate one after the
# other: the next finds it at the head and does nothing. Not the maintenance lock
# (store/maintenance.py): run-migrations.sh holds that one while it runs this.
MIGRATION_LOCK = 1835233395

url = context.config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("alembic_config() sets sqlalchemy.url")
connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})  # held by the session
    connection.commit()
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
