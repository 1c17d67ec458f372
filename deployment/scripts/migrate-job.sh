#!/usr/bin/env bash
# Run the migration Job (render_manifests.py --migration-job) and report its
# outcome with run-migrations.sh's exit status. See --help.
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<'EOF_USAGE'
Usage: migrate-job.sh -n NAMESPACE -f JOB_YAML [-h|--help]

Creates the Job in JOB_YAML (one Job: backup to the mcp-rag-backups volume,
maintenance mode, `alembic upgrade`, restore when needed, then the smoke-test
token's registration), waits for it to finish (JOB_TIMEOUT seconds, default
1800), prints its log, and exits with the migration's own exit status:

  0  migrated (or already current)        1  failed; database exactly as before
  2  configuration error; nothing changed 3  failed and the rollback failed too
  4  failed; downgraded, data may differ  5  writes under way did not finish
  6  the Job's outcome could not be read (did not finish in time, no pod)
EOF_USAGE
}

NAMESPACE=""
FILE=""
JOB_TIMEOUT=${JOB_TIMEOUT:-1800}
POLL_SECONDS=${POLL_SECONDS:-5}

log() { printf '%s [migrate-job] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
usage_error() { log "ERROR: $*"; usage >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) [[ $# -ge 2 ]] || usage_error "-n needs a value"; NAMESPACE=$2; shift ;;
    -f) [[ $# -ge 2 ]] || usage_error "-f needs a file"; FILE=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
  shift
done
[[ -n "$NAMESPACE" ]] || usage_error "-n NAMESPACE is required"
[[ -f "$FILE" ]] || usage_error "-f JOB_YAML is required (render_manifests.py --migration-job NAME)"
[[ "$JOB_TIMEOUT" =~ ^[0-9]+$ ]] || usage_error "JOB_TIMEOUT must be a number of seconds"
NAME=$(sed -n 's/^  name: *//p' "$FILE" | head -n 1)
[[ -n "$NAME" ]] || usage_error "$FILE names no Job"

k() { kubectl -n "$NAMESPACE" "$@"; }

log "creating job/$NAME"
k create -f "$FILE" >&2
deadline=$((SECONDS + JOB_TIMEOUT))
outcome=""
while ((SECONDS < deadline)); do
  succeeded=$(k get job "$NAME" -o 'jsonpath={.status.succeeded}')
  failed=$(k get job "$NAME" -o 'jsonpath={.status.failed}')
  if [[ "${succeeded:-0}" -ge 1 ]]; then outcome=succeeded; break; fi
  if [[ "${failed:-0}" -ge 1 ]]; then outcome=failed; break; fi
  sleep "$POLL_SECONDS"
done
log "log of job/$NAME:"
k logs "job/$NAME" --all-containers >&2 || log "warning: no log for job/$NAME"
if [[ -z "$outcome" ]]; then
  log "ERROR: job/$NAME did not finish within ${JOB_TIMEOUT}s; it keeps running (kubectl -n $NAMESPACE get job $NAME)"
  exit 6
fi
code=$(k get pods -l "job-name=$NAME" -o 'jsonpath={.items[0].status.containerStatuses[0].state.terminated.exitCode}')
if [[ ! "$code" =~ ^[0-9]+$ ]]; then
  log "ERROR: job/$NAME $outcome, but its exit status cannot be read"
  exit 6
fi
log "job/$NAME $outcome with exit status $code"
exit "$code"
