#!/usr/bin/env bash
# Point the production Service at the blue or the green backend. See --help.
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<'EOF_USAGE'
Usage: blue-green-switch.sh -n NAMESPACE (-t blue|green | --status | --idle) [-s SERVICE] [-h]

Production runs two backend deployments, mcp-backend-blue and
mcp-backend-green; the Service (default mcp-backend) sends traffic to the one
its `version` selector names.

  --status   print the live colour
  --idle     print the idle colour (the one to deploy the new release to)
  -t COLOUR  switch traffic to COLOUR, after checking that every replica of
             mcp-backend-COLOUR is ready; prints the colour that was live
             before, so that a rollback is `-t <that colour>`.

Exit status: 0 done; 1 the target is not ready or kubectl failed; 2 usage.
EOF_USAGE
}

NAMESPACE=""
SERVICE=mcp-backend
TARGET=""
ACTION=""

log() { printf '%s [blue-green] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
usage_error() { log "ERROR: $*"; usage >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) [[ $# -ge 2 ]] || usage_error "-n needs a value"; NAMESPACE=$2; shift ;;
    -s) [[ $# -ge 2 ]] || usage_error "-s needs a value"; SERVICE=$2; shift ;;
    -t) [[ $# -ge 2 ]] || usage_error "-t needs a value"; TARGET=$2; ACTION=switch; shift ;;
    --status) ACTION=status ;;
    --idle) ACTION=idle ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
  shift
done
[[ -n "$NAMESPACE" ]] || usage_error "-n NAMESPACE is required"
[[ -n "$ACTION" ]] || usage_error "one of -t COLOUR, --status, --idle is required"
[[ "$ACTION" != switch || "$TARGET" == blue || "$TARGET" == green ]] || usage_error "-t must be blue or green"

k() { kubectl -n "$NAMESPACE" "$@"; }

live=$(k get service "$SERVICE" -o 'jsonpath={.spec.selector.version}')
[[ "$live" == blue || "$live" == green ]] || { log "ERROR: service $SERVICE selects version '$live', not blue/green"; exit 1; }
other() { if [[ "$1" == blue ]]; then echo green; else echo blue; fi; }

case "$ACTION" in
  status) echo "$live"; exit 0 ;;
  idle) other "$live"; exit 0 ;;
esac

deployment="$SERVICE-$TARGET"
counts=$(k get deployment "$deployment" -o 'jsonpath={.status.readyReplicas}/{.spec.replicas}')
ready=${counts%%/*}
wanted=${counts##*/}
if [[ -z "$ready" || "$ready" == 0 || "$ready" != "$wanted" ]]; then
  log "ERROR: $deployment has ${ready:-0}/${wanted:-?} ready replicas; not switching"
  exit 1
fi
if [[ "$live" == "$TARGET" ]]; then
  log "$SERVICE already sends traffic to $TARGET"
else
  k patch service "$SERVICE" --type merge -p "{\"spec\":{\"selector\":{\"version\":\"$TARGET\"}}}" >&2
  log "$SERVICE now sends traffic to $TARGET (was $live)"
fi
echo "$live"
