#!/usr/bin/env bash
# Deploy one release to one environment, in the order that keeps the database
# and the live service safe, and roll back what changed when a step fails.
# See --help.
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<'EOF_USAGE'
Usage: deploy.sh -e dev|staging|production --backend-image IMAGE --frontend-image IMAGE [-h|--help]

IMAGEs are the digests CI built and scanned (registry/repo@sha256:...).

Rolling (dev, staging):
  1. smoke-test token: the Secret mcp-rag-smoke-token, created with a random
     value when missing (a first deploy)
  2. settings: ConfigMaps, ServiceAccount, backups volume, NetworkPolicies
  3. migration Job from the new image (migrate-job.sh): maintenance mode,
     backup to the backups volume, migrate, restore if needed, token
     registration. A failure stops here: no pod was replaced.
  4. rollout of the backend and the frontend
  5. smoke tests (smoke-tests.sh) with the smoke-test token
  6. verification in Prometheus (verify-deploy.sh), when PROMETHEUS_URL is
     set: error rate and p95 (no minimum traffic unless VERIFY_MIN_RPS is set)
  A failure in 4-6 rolls back each deployment whose revision changed, to the
  revision it had (rollback.sh -r); a deployment that did not change is left.

Blue-green (production):
  1-2 as above, for the idle colour only (the live colour's objects are not
     applied; a first deploy takes green, the Service starts on blue)
  3. migration Job from the new image, before any traffic moves
  4. rollout of the idle colour
  5. smoke tests against the idle colour (port-forward)
  6. switch: the Service selects the idle colour (blue-green-switch.sh)
  7. frontend: the new image, rolled out
  8. smoke tests through the public URL, then verification in Prometheus of
     the new colour (PROMETHEUS_URL required): traffic, error rate, p95
  A failure in 4-5 leaves users on the live colour (nothing to undo); a
  failure in 6-8 switches traffic back and rolls the frontend back if it
  changed.

Environment
  NAMESPACE        default mcp-rag-ENV
  OVERLAY          default deployment/kubernetes/overlays/ENV
  RELEASE_ID       names the migration Job (default: UTC time)
  PROMETHEUS_URL   Prometheus HTTP API base URL (required for production)
  SMOKE_TESTS      smoke-test script (default: smoke-tests.sh beside this one)
  WORK_DIR         where the rendered manifests go (default: a temp dir)

Exit status: 0 deployed and verified; 1 a step failed and what changed was
rolled back (the log says which step); 2 usage; 3 a step failed and the
rollback failed too; 10+N the migration Job failed with run-migrations.sh's
status N (nothing was rolled out).
EOF_USAGE
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENVIRONMENT=""
BACKEND_IMAGE=""
FRONTEND_IMAGE=""
SMOKE_TESTS=${SMOKE_TESTS:-$HERE/smoke-tests.sh}
SMOKE_SECRET=mcp-rag-smoke-token
PYTHON=${PYTHON:-python3}

log() { printf '%s [deploy] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
usage_error() { log "ERROR: $*"; usage >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -e) [[ $# -ge 2 ]] || usage_error "-e needs a value"; ENVIRONMENT=$2; shift ;;
    --backend-image) [[ $# -ge 2 ]] || usage_error "--backend-image needs a value"; BACKEND_IMAGE=$2; shift ;;
    --frontend-image) [[ $# -ge 2 ]] || usage_error "--frontend-image needs a value"; FRONTEND_IMAGE=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
  shift
done
[[ "$ENVIRONMENT" =~ ^(dev|staging|production)$ ]] || usage_error "-e must be dev, staging or production"
for image in "$BACKEND_IMAGE" "$FRONTEND_IMAGE"; do
  [[ "$image" =~ @sha256:[0-9a-f]{64}$ ]] || usage_error "images are deployed by digest (repo@sha256:...), got '$image'"
done
NAMESPACE=${NAMESPACE:-mcp-rag-$ENVIRONMENT}
OVERLAY=${OVERLAY:-$HERE/../kubernetes/overlays/$ENVIRONMENT}
RELEASE_ID=${RELEASE_ID:-$(date -u +%Y%m%d%H%M%S)}
[[ "$RELEASE_ID" =~ ^[a-z0-9-]{1,40}$ ]] || usage_error "RELEASE_ID must be 1-40 of a-z 0-9 -"
if [[ "$ENVIRONMENT" == production && -z "${PROMETHEUS_URL:-}" ]]; then
  usage_error "PROMETHEUS_URL is required for production (the post-switch verification reads it)"
fi
WORK=${WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/deploy.XXXXXX")}
mkdir -p "$WORK"

k() { kubectl -n "$NAMESPACE" "$@"; }
step() { log "== $*"; }

# attempt FUNCTION ARGS...: run it in a subshell with errexit in force; its
# status goes to ATTEMPT_STATUS. Called as a plain command, never in an `if` or
# before `||`: bash switches errexit off in everything such a test runs.
ATTEMPT_STATUS=0
attempt() {
  set +e
  (
    set -e
    "$@"
  )
  ATTEMPT_STATUS=$?
  set -e
}

revision_of() { # the deployment's revision, "none" when it does not exist yet
  local rev
  if rev=$(k get deployment "$1" -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}' 2>/dev/null) &&
    [[ -n "$rev" ]]; then
    printf '%s' "$rev"
  else
    printf none
  fi
}

# ---------------------------------------------------------------- steps
ensure_smoke_token() {
  step "smoke-test token"
  if ! k get secret "$SMOKE_SECRET" >/dev/null 2>&1; then
    log "creating Secret $SMOKE_SECRET (first deploy)"
    "$PYTHON" -c 'import secrets; print("mrag_" + secrets.token_urlsafe(32), end="")' |
      k create secret generic "$SMOKE_SECRET" --from-file=token=/dev/stdin >&2
  fi
  MCP_RAG_API_TOKEN=$(k get secret "$SMOKE_SECRET" -o 'jsonpath={.data.token}' | base64 -d)
  export MCP_RAG_API_TOKEN
  [[ -z "${GITHUB_ACTIONS:-}" || -z "$MCP_RAG_API_TOKEN" ]] || echo "::add-mask::$MCP_RAG_API_TOKEN"
}

render() {
  step "render $OVERLAY"
  local live_args=()
  [[ -z "${LIVE:-}" ]] || live_args=(--live "$LIVE")
  "$PYTHON" "$HERE/render_manifests.py" "$OVERLAY" --backend-image "$BACKEND_IMAGE" \
    --frontend-image "$RENDER_FRONTEND_IMAGE" "${live_args[@]}" >"$WORK/release.yaml"
  "$PYTHON" "$HERE/render_manifests.py" "$OVERLAY" --backend-image "$BACKEND_IMAGE" \
    --frontend-image "$RENDER_FRONTEND_IMAGE" "${live_args[@]}" --migration-job "mcp-rag-migrate-$RELEASE_ID" >"$WORK/job.yaml"
  # Settings first (nothing running refers to a new hashed ConfigMap yet), workloads after the migration.
  "$PYTHON" - "$WORK" <<'PY'
import sys, yaml
work = sys.argv[1]
docs = [d for d in yaml.safe_load_all(open(f"{work}/release.yaml")) if d]
settings = ("ConfigMap", "ServiceAccount", "PersistentVolumeClaim", "NetworkPolicy")
yaml.safe_dump_all([d for d in docs if d["kind"] in settings], open(f"{work}/settings.yaml", "w"), sort_keys=False)
yaml.safe_dump_all([d for d in docs if d["kind"] not in settings], open(f"{work}/workloads.yaml", "w"), sort_keys=False)
PY
}

migrate() {
  step "migration Job"
  local code=0
  bash "$HERE/migrate-job.sh" -n "$NAMESPACE" -f "$WORK/job.yaml" || code=$?
  if [[ "$code" -ne 0 ]]; then
    log "FAILED: the migration Job exited $code; nothing was rolled out (run-migrations.sh --help explains $code)"
    exit $((10 + code))
  fi
}

smoke() { step "smoke tests: $1"; bash "$SMOKE_TESTS" "$1"; }

verify() {
  if [[ -z "${PROMETHEUS_URL:-}" ]]; then
    log "verification in Prometheus skipped: PROMETHEUS_URL is not set"
    return 0
  fi
  step "verification in Prometheus${1:+ ($1)}"
  if [[ -z "$1" ]]; then
    # dev and staging may see no traffic but the smoke tests': only errors and latency are judged.
    VERIFY_MIN_RPS=${VERIFY_MIN_RPS:-0} bash "$HERE/verify-deploy.sh" -n "$NAMESPACE"
  else
    bash "$HERE/verify-deploy.sh" -n "$NAMESPACE" -c "$1"
  fi
}

# rollback_if_changed DEPLOYMENT REVISION_BEFORE [CONTAINER]
rollback_if_changed() {
  local deployment=$1 before=$2 now
  now=$(revision_of "$deployment")
  if [[ "$now" == "$before" ]]; then
    log "$deployment is still on revision $before: nothing to roll back"
    return 0
  fi
  if [[ "$before" == none ]]; then
    log "$deployment did not exist before this deploy: nothing to roll back to; left as is"
    return 0
  fi
  local env=()
  [[ "$deployment" != mcp-frontend ]] || env=(SKIP_HEALTH_CHECK=true)
  env "${env[@]}" bash "$HERE/rollback.sh" -n "$NAMESPACE" -d "$deployment" -r "$before" -c "${3:-backend}"
}

# ---------------------------------------------------------------- rolling
rolling_release() {
  step "rollout"
  k apply -f "$WORK/workloads.yaml" >&2
  k rollout status deployment/mcp-backend --timeout=300s >&2
  k rollout status deployment/mcp-frontend --timeout=300s >&2
  smoke "$ENVIRONMENT"
  verify ""
}

deploy_rolling() {
  RENDER_FRONTEND_IMAGE=$FRONTEND_IMAGE
  ensure_smoke_token
  render
  step "settings"
  k apply -f "$WORK/settings.yaml" >&2
  migrate
  local backend_before frontend_before
  backend_before=$(revision_of mcp-backend)
  frontend_before=$(revision_of mcp-frontend)
  attempt rolling_release
  if [[ "$ATTEMPT_STATUS" -eq 0 ]]; then
    log "DEPLOYED $BACKEND_IMAGE to $ENVIRONMENT"
    return 0
  fi
  step "rolling back"
  local ok=true
  rollback_if_changed mcp-backend "$backend_before" backend || ok=false
  rollback_if_changed mcp-frontend "$frontend_before" frontend || ok=false
  [[ "$ok" == true ]] || { log "ROLLBACK FAILED: see above"; exit 3; }
  log "FAILED and rolled back"
  exit 1
}

# ---------------------------------------------------------------- blue-green
idle_release() {
  local idle=$1 forward
  step "rollout ($idle)"
  k apply -f "$WORK/workloads.yaml" >&2
  k rollout status "deployment/mcp-backend-$idle" --timeout=300s >&2
  step "smoke tests: $idle colour"
  k port-forward "deployment/mcp-backend-$idle" 18000:8000 >/dev/null 2>&1 &
  forward=$!
  sleep "${PORT_FORWARD_WAIT:-3}"
  local status=0
  bash "$SMOKE_TESTS" http://127.0.0.1:18000 || status=$?
  kill "$forward" 2>/dev/null || true
  return "$status"
}

switched_release() {
  local idle=$1
  step "switch to $idle"
  bash "$HERE/blue-green-switch.sh" -n "$NAMESPACE" -t "$idle" >/dev/null
  step "frontend"
  k set image deployment/mcp-frontend "frontend=$FRONTEND_IMAGE" >&2
  k rollout status deployment/mcp-frontend --timeout=300s >&2
  smoke production
  verify "$idle"
}

deploy_blue_green() {
  local first=false idle frontend_before
  if k get service mcp-backend >/dev/null 2>&1; then
    LIVE=$(bash "$HERE/blue-green-switch.sh" -n "$NAMESPACE" --status)
  else
    LIVE=blue first=true # a first deploy: the Service is created on blue, the release goes to green
  fi
  if [[ "$LIVE" == blue ]]; then idle=green; else idle=blue; fi
  if [[ "$first" == true ]]; then log "first deploy: the Service starts on $LIVE"; fi
  log "live colour: $LIVE; deploying to $idle"
  # The frontend keeps its image until the switch; then it gets the new one.
  RENDER_FRONTEND_IMAGE=$(k get deployment mcp-frontend \
    -o 'jsonpath={.spec.template.spec.containers[?(@.name=="frontend")].image}' 2>/dev/null) || RENDER_FRONTEND_IMAGE=""
  RENDER_FRONTEND_IMAGE=${RENDER_FRONTEND_IMAGE:-$FRONTEND_IMAGE}
  ensure_smoke_token
  render
  step "settings ($idle)"
  k apply -f "$WORK/settings.yaml" >&2
  migrate
  attempt idle_release "$idle"
  if [[ "$ATTEMPT_STATUS" -ne 0 ]]; then
    log "FAILED before the switch: users stay on $LIVE; mcp-backend-$idle is left for inspection"
    exit 1
  fi
  frontend_before=$(revision_of mcp-frontend)
  attempt switched_release "$idle"
  if [[ "$ATTEMPT_STATUS" -eq 0 ]]; then
    log "DEPLOYED $BACKEND_IMAGE to production ($idle)"
    return 0
  fi
  step "rolling back: traffic to $LIVE"
  local ok=true
  if [[ "$first" == true ]]; then
    log "first deploy: no previous colour to go back to"
  else
    bash "$HERE/blue-green-switch.sh" -n "$NAMESPACE" -t "$LIVE" >/dev/null || ok=false
  fi
  rollback_if_changed mcp-frontend "$frontend_before" frontend || ok=false
  [[ "$ok" == true ]] || { log "ROLLBACK FAILED: see above"; exit 3; }
  log "FAILED and rolled back"
  exit 1
}

log "deploying to $ENVIRONMENT (namespace $NAMESPACE): backend $BACKEND_IMAGE, frontend $FRONTEND_IMAGE"
if [[ "$ENVIRONMENT" == production ]]; then deploy_blue_green; else deploy_rolling; fi
