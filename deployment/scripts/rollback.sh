#!/usr/bin/env bash
# Roll a Kubernetes deployment back to its previous (or a given) revision and
# check that it is healthy again. See --help.
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<'EOF'
Usage: rollback.sh -n NAMESPACE -d DEPLOYMENT [-r REVISION] [-c CONTAINER] [-i] [-h]
       rollback.sh -i        (asks for the namespace, deployment and revision)

Shows the deployment's status (image, pods, current revision) and rollout
history, runs `kubectl rollout undo` (to REVISION when given, else the
previous one), waits for the rollout
(ROLLBACK_TIMEOUT, default 300s), checks that every replica is ready and that
the service answers its health check, and reports the outcome to Slack and/or
email when configured.

Options
  -n NAMESPACE   Kubernetes namespace (required)
  -d DEPLOYMENT  deployment to roll back, e.g. mcp-backend (required)
  -r REVISION    rollout revision to go back to (see the history it prints)
  -c CONTAINER   container to run the in-pod health check in (default: backend)
  -i             interactive: ask for what -n, -d, -r did not give (listing
                 the choices), show the target revision's details, and ask
                 before rolling back
  -h, --help     this help

Environment
  ROLLBACK_TIMEOUT   how long to wait for the rollout (default: 300s)
  HEALTH_URL         check this URL with curl instead of inside the pod
  HEALTH_PATH        in-pod health path (default: /health), on port HEALTH_PORT (8000)
  SKIP_HEALTH_CHECK  true to skip the health check (e.g. for the frontend)
  SLACK_WEBHOOK_URL  post the outcome to this Slack incoming webhook
  NOTIFY_EMAIL       mail the outcome there, through SMTP_URL (see notify.sh)

Exit status: 0 rolled back and healthy; 1 rollback or verification failed;
2 usage error; 4 cancelled at the prompt.
EOF
}

NAMESPACE=""
DEPLOYMENT=""
REVISION=""
CONTAINER=backend
INTERACTIVE=false
ROLLBACK_TIMEOUT=${ROLLBACK_TIMEOUT:-300s}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HEALTH_PATH=${HEALTH_PATH:-/health}
HEALTH_PORT=${HEALTH_PORT:-8000}

log() { printf '%s [rollback] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
usage_error() { log "ERROR: $*"; usage >&2; exit 2; }

if [[ "${1:-}" == --help ]]; then usage; exit 0; fi
while getopts ":n:d:r:c:ih" opt; do
  case "$opt" in
    n) NAMESPACE=$OPTARG ;;
    d) DEPLOYMENT=$OPTARG ;;
    r) REVISION=$OPTARG ;;
    c) CONTAINER=$OPTARG ;;
    i) INTERACTIVE=true ;;
    h) usage; exit 0 ;;
    :) usage_error "-$OPTARG needs a value" ;;
    *) usage_error "unknown option -$OPTARG" ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -eq 0 ]] || usage_error "unexpected argument: $1"
if [[ "$INTERACTIVE" != true ]]; then
  [[ -n "$NAMESPACE" ]] || usage_error "-n NAMESPACE is required (or -i to be asked)"
  [[ -n "$DEPLOYMENT" ]] || usage_error "-d DEPLOYMENT is required (or -i to be asked)"
fi
[[ -z "$REVISION" || "$REVISION" =~ ^[0-9]+$ ]] || usage_error "-r REVISION must be a number"
command -v kubectl >/dev/null || { log "ERROR: kubectl not found"; exit 1; }

k() { kubectl -n "$NAMESPACE" "$@"; }

# ask PROMPT DEFAULT -> the answer (the default on an empty line); EOF cancels.
ask() {
  local answer
  read -r -p "$1${2:+ [$2]}: " answer || { echo >&2; log "cancelled"; exit 4; }
  printf '%s' "${answer:-$2}"
}

if [[ "$INTERACTIVE" == true && -z "$NAMESPACE" ]]; then
  log "namespaces:"
  kubectl get namespaces -o name | sed 's#^namespace/#  #' >&2 || true
  NAMESPACE=$(ask "Namespace" "")
  [[ -n "$NAMESPACE" ]] || usage_error "a namespace is required"
fi
if [[ "$INTERACTIVE" == true && -z "$DEPLOYMENT" ]]; then
  log "deployments in $NAMESPACE:"
  k get deployments -o name | sed 's#^deployment.apps/#  #' >&2 || true
  DEPLOYMENT=$(ask "Deployment" "")
  [[ -n "$DEPLOYMENT" ]] || usage_error "a deployment is required"
fi

notify() {
  local status=$1 message=$2
  bash "$HERE/notify.sh" "$status rollback of $DEPLOYMENT in $NAMESPACE: $message" ||
    log "warning: a notification failed"
}

fail() {
  log "ERROR: $*"
  notify FAILED "$*"
  exit 1
}

health_check() {
  if [[ "${SKIP_HEALTH_CHECK:-false}" == true ]]; then
    log "health check skipped (SKIP_HEALTH_CHECK=true)"
    return 0
  fi
  if [[ -n "${HEALTH_URL:-}" ]]; then
    curl -fsS --max-time 10 -o /dev/null "$HEALTH_URL"
  else
    # The backend image has Python but no curl.
    k exec "deploy/$DEPLOYMENT" -c "$CONTAINER" -- python -c \
      'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' \
      "http://127.0.0.1:${HEALTH_PORT}${HEALTH_PATH}"
  fi
}

# ---------------------------------------------------------------- status
k get deployment "$DEPLOYMENT" >/dev/null || fail "deployment $DEPLOYMENT not found in namespace $NAMESPACE"
current=$(k get deployment "$DEPLOYMENT" -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}')
image=$(k get deployment "$DEPLOYMENT" -o 'jsonpath={.spec.template.spec.containers[*].image}') || image=""
log "status of $DEPLOYMENT: revision ${current:-unknown}, image ${image:-unknown}"
k rollout status "deployment/$DEPLOYMENT" --timeout=5s >&2 || log "(the current rollout is not complete)"
# shellcheck disable=SC2016 # a Go template, not a shell expansion
selector=$(k get deployment "$DEPLOYMENT" \
  -o 'go-template={{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}') || selector=""
if [[ -n "$selector" ]]; then
  log "pods:"
  k get pods -l "${selector%,}" -o wide >&2 || log "(cannot list the pods)"
fi
log "history:"
k rollout history "deployment/$DEPLOYMENT" >&2

if [[ "$INTERACTIVE" == true && -z "$REVISION" ]]; then
  REVISION=$(ask "Revision to go back to (empty: the previous one)" "")
  [[ -z "$REVISION" || "$REVISION" =~ ^[0-9]+$ ]] || usage_error "the revision must be a number"
fi
target=${REVISION:-previous}
if [[ -n "$REVISION" ]]; then
  log "revision $REVISION:"
  k rollout history "deployment/$DEPLOYMENT" --revision="$REVISION" >&2 || fail "revision $REVISION not found"
fi
if [[ "$INTERACTIVE" == true ]]; then
  answer=$(ask "Roll back $DEPLOYMENT in $NAMESPACE from revision ${current:-?} to $target? [y/N]" "")
  if [[ ! "$answer" =~ ^[Yy]([Ee][Ss])?$ ]]; then
    log "cancelled"
    exit 4
  fi
fi

# ---------------------------------------------------------------- roll back
log "rolling back $DEPLOYMENT to revision $target"
undo=(rollout undo "deployment/$DEPLOYMENT")
[[ -z "$REVISION" ]] || undo+=("--to-revision=$REVISION")
k "${undo[@]}" >&2 || fail "kubectl rollout undo failed"

log "waiting for the rollout (timeout $ROLLBACK_TIMEOUT)"
k rollout status "deployment/$DEPLOYMENT" --timeout="$ROLLBACK_TIMEOUT" >&2 ||
  fail "rollout did not finish within $ROLLBACK_TIMEOUT"

# ---------------------------------------------------------------- verify
counts=$(k get deployment "$DEPLOYMENT" -o 'jsonpath={.status.readyReplicas}/{.spec.replicas}')
ready=${counts%%/*}
wanted=${counts##*/}
if [[ -z "$ready" || -z "$wanted" || "$ready" != "$wanted" ]]; then
  fail "only ${ready:-0} of ${wanted:-?} pods are ready after the rollback"
fi
log "pods: $ready/$wanted ready"
health_check || fail "health check failed after the rollback"
now=$(k get deployment "$DEPLOYMENT" -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}')
message="$DEPLOYMENT in $NAMESPACE is back on revision $target (now revision ${now:-?}), $ready/$wanted pods ready and healthy"
log "$message"
notify SUCCEEDED "$message"
