#!/usr/bin/env bash
# Watch a release in Prometheus after it gets traffic; fail on a breach. See --help.
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<'EOF_USAGE'
Usage: verify-deploy.sh -n NAMESPACE [-c blue|green] [-h|--help]

After VERIFY_SETTLE seconds (default 60: two scrapes, so that the release's
pods are in the data), for VERIFY_DURATION seconds, every VERIFY_INTERVAL
seconds, asks Prometheus
(PROMETHEUS_URL, HTTP API /api/v1/query) about the backend pods of NAMESPACE
(of one colour with -c) over the last VERIFY_WINDOW:

  traffic     requests per second            must be >= VERIFY_MIN_RPS (0.01;
                                             no data counts as 0)
  error rate  5xx share of those requests    must be <= VERIFY_MAX_ERROR_RATE (0.01)
  p95         95th percentile latency, s     must be <= VERIFY_MAX_P95 (0.5; /mcp excluded)

and exits 1 at the first breach (the deploy then rolls back), 0 when the whole
period passed. Pods are matched by the `pod` and `namespace` labels that
Prometheus' Kubernetes service discovery gives the scraped series.

Exit status: 0 healthy; 1 a threshold was breached or Prometheus did not
answer; 2 usage error.
EOF_USAGE
}

NAMESPACE=""
COLOUR=""
VERIFY_SETTLE=${VERIFY_SETTLE:-60}
VERIFY_DURATION=${VERIFY_DURATION:-300}
VERIFY_INTERVAL=${VERIFY_INTERVAL:-30}
VERIFY_WINDOW=${VERIFY_WINDOW:-2m}
VERIFY_MIN_RPS=${VERIFY_MIN_RPS:-0.01}
VERIFY_MAX_ERROR_RATE=${VERIFY_MAX_ERROR_RATE:-0.01}
VERIFY_MAX_P95=${VERIFY_MAX_P95:-0.5}

log() { printf '%s [verify] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
usage_error() { log "ERROR: $*"; usage >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) [[ $# -ge 2 ]] || usage_error "-n needs a value"; NAMESPACE=$2; shift ;;
    -c) [[ $# -ge 2 && ( "$2" == blue || "$2" == green ) ]] || usage_error "-c must be blue or green"; COLOUR=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
  shift
done
[[ -n "$NAMESPACE" ]] || usage_error "-n NAMESPACE is required"
[[ -n "${PROMETHEUS_URL:-}" ]] || usage_error "PROMETHEUS_URL is required"
for n in "$VERIFY_SETTLE" "$VERIFY_DURATION" "$VERIFY_INTERVAL"; do
  [[ "$n" =~ ^[0-9]+$ ]] || usage_error "VERIFY_SETTLE, VERIFY_DURATION and VERIFY_INTERVAL are seconds"
done

pods="mcp-backend-${COLOUR:+$COLOUR-}.*"
sel="namespace=\"$NAMESPACE\", pod=~\"$pods\""
TRAFFIC="sum(rate(mcp_rag_http_requests_total{$sel}[$VERIFY_WINDOW]))"
ERRORS="sum(rate(mcp_rag_http_requests_total{$sel, status=~\"5..\"}[$VERIFY_WINDOW])) / clamp_min($TRAFFIC, 1e-9)"
P95="histogram_quantile(0.95, sum by (le) (rate(mcp_rag_http_request_duration_seconds_bucket{$sel, route!=\"/mcp\"}[$VERIFY_WINDOW])))"

# query PROMQL -> the instant vector's single value; "NaN" when the result is empty.
query() {
  curl -fsS --max-time 10 --get --data-urlencode "query=$1" "${PROMETHEUS_URL%/}/api/v1/query" |
    python3 -c '
import json, sys
body = json.load(sys.stdin)
if body.get("status") != "success":
    sys.exit("prometheus: " + str(body.get("error")))
result = body["data"]["result"]
print(result[0]["value"][1] if result else "NaN")'
}

# above A B: true when number A > number B (NaN is never above anything).
above() { python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if a > b else 1)' "$1" "$2"; }
# below A B: true when number A < number B, NaN counting as 0.
below() {
  python3 -c 'import math, sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if (0.0 if math.isnan(a) else a) < b else 1)' "$1" "$2"
}

sleep "$VERIFY_SETTLE"
log "watching $pods in $NAMESPACE for ${VERIFY_DURATION}s (max error rate $VERIFY_MAX_ERROR_RATE, max p95 ${VERIFY_MAX_P95}s, min ${VERIFY_MIN_RPS} req/s)"
end=$((SECONDS + VERIFY_DURATION))
while :; do
  rps=$(query "$TRAFFIC") || { log "FAIL: Prometheus did not answer"; exit 1; }
  errors=$(query "$ERRORS") || { log "FAIL: Prometheus did not answer"; exit 1; }
  p95=$(query "$P95") || { log "FAIL: Prometheus did not answer"; exit 1; }
  log "traffic ${rps} req/s, error rate ${errors}, p95 ${p95}s"
  if below "$rps" "$VERIFY_MIN_RPS"; then
    log "FAIL: traffic ${rps} req/s is below ${VERIFY_MIN_RPS}: the release gets no requests"
    exit 1
  fi
  if above "$errors" "$VERIFY_MAX_ERROR_RATE"; then
    log "FAIL: error rate ${errors} is above ${VERIFY_MAX_ERROR_RATE}"
    exit 1
  fi
  if above "$p95" "$VERIFY_MAX_P95"; then
    log "FAIL: p95 latency ${p95}s is above ${VERIFY_MAX_P95}s"
    exit 1
  fi
  ((SECONDS < end)) || break
  sleep "$VERIFY_INTERVAL"
done
log "healthy for ${VERIFY_DURATION}s"
