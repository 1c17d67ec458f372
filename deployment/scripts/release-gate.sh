#!/usr/bin/env bash
# Refuse to deploy a commit that has no green CI run on main. See --help.
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<'EOF_USAGE'
Usage: release-gate.sh SHA [-h|--help]

Asks the GitHub REST API for a run of the CI workflow that was triggered by a
push to main at exactly SHA (a full 40-character commit id) and concluded
`success`. Prints `run_id=<id>` (for $GITHUB_OUTPUT): the run whose image
digests CD deploys.

Environment
  GITHUB_REPOSITORY  owner/name (set by GitHub Actions)
  GITHUB_TOKEN       a token that may read Actions runs
  GITHUB_API_URL     default https://api.github.com (set by GitHub Actions)
  CI_WORKFLOW        the CI workflow's file name (default ci.yml)

Exit status: 0 a green CI run exists; 1 none does (refused) or GitHub did not
answer; 2 usage error.
EOF_USAGE
}

log() { printf '%s [release-gate] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
usage_error() { log "ERROR: $*"; usage >&2; exit 2; }

case "${1:-}" in -h | --help) usage; exit 0 ;; esac
[[ $# -eq 1 ]] || usage_error "one SHA is required"
SHA=$1
[[ "$SHA" =~ ^[0-9a-f]{40}$ ]] || usage_error "SHA must be a full 40-character commit id, got '$SHA'"
[[ "${GITHUB_REPOSITORY:-}" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || usage_error "GITHUB_REPOSITORY (owner/name) is required"
[[ -n "${GITHUB_TOKEN:-}" ]] || usage_error "GITHUB_TOKEN is required"
API=${GITHUB_API_URL:-https://api.github.com}
CI_WORKFLOW=${CI_WORKFLOW:-ci.yml}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/release-gate.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The token goes to curl through a private file, never on a command line.
(umask 077 && printf 'Authorization: Bearer %s\n' "$GITHUB_TOKEN" >"$WORK/auth")

url="${API%/}/repos/$GITHUB_REPOSITORY/actions/workflows/$CI_WORKFLOW/runs?head_sha=$SHA&branch=main&event=push&status=success&per_page=10"
curl -fsS --max-time 30 -H @"$WORK/auth" -H 'Accept: application/vnd.github+json' \
  -H 'X-GitHub-Api-Version: 2022-11-28' -o "$WORK/runs.json" "$url" ||
  { log "ERROR: GitHub did not answer the runs query"; exit 1; }

# The query's filters are checked again on every run returned.
run_id=$(python3 - "$WORK/runs.json" "$SHA" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1])).get("workflow_runs", [])
green = [r for r in runs if r.get("head_sha") == sys.argv[2] and r.get("head_branch") == "main"
         and r.get("event") == "push" and r.get("conclusion") == "success"]
print(green[0]["id"] if green else "")
PY
)
if [[ -z "$run_id" ]]; then
  log "REFUSED: no successful $CI_WORKFLOW run on a push to main for $SHA; only commits CI passed on main are deployed"
  exit 1
fi
log "CI run $run_id passed on main for $SHA"
printf 'run_id=%s\n' "$run_id"
