#!/usr/bin/env bash
# Smoke-test a running mcp-rag: health, readiness, version, ingest, search, ask.
# See --help.
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<'EOF'
Usage: smoke-tests.sh ENV_OR_URL [-h|--help]

ENV_OR_URL is a base URL (http://127.0.0.1:8000) or an environment name:
  dev         $MCP_RAG_URL_DEV         (default https://dev.mcp-rag.example.com)
  staging     $MCP_RAG_URL_STAGING     (default https://staging.mcp-rag.example.com)
  production  $MCP_RAG_URL_PRODUCTION  (default https://mcp-rag.example.com)

Checks, in order: GET /health, GET /ready, GET /version, POST /v1/conversations
(a uniquely named smoke-test conversation), GET /v1/search finds it, POST
/v1/ask answers from it; the conversation is deleted again at the end, whatever
happened.

Environment
  MCP_RAG_API_TOKEN  sent as "Authorization: Bearer ..." when set
  SMOKE_TIMEOUT      seconds per request (default 30)
  SMOKE_READY_WAIT   seconds to wait for /ready to turn 200 (default 60)

Exit status: 0 all checks passed; 1 a check failed (the log says which); 2 usage.
EOF
}

log() { printf '%s [smoke] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

[[ $# -eq 1 ]] || { usage >&2; exit 2; }
case "$1" in
  -h | --help) usage; exit 0 ;;
  dev) BASE=${MCP_RAG_URL_DEV:-https://dev.mcp-rag.example.com} ;;
  staging) BASE=${MCP_RAG_URL_STAGING:-https://staging.mcp-rag.example.com} ;;
  production) BASE=${MCP_RAG_URL_PRODUCTION:-https://mcp-rag.example.com} ;;
  http://* | https://*) BASE=$1 ;;
  *) log "ERROR: '$1' is neither dev/staging/production nor an http(s) URL"; usage >&2; exit 2 ;;
esac
BASE=${BASE%/}
SMOKE_TIMEOUT=${SMOKE_TIMEOUT:-30}
SMOKE_READY_WAIT=${SMOKE_READY_WAIT:-60}
command -v curl >/dev/null || { log "ERROR: curl not found"; exit 1; }
command -v python3 >/dev/null || { log "ERROR: python3 not found"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/smoke.XXXXXX")
CONVERSATION_ID=""
cleanup() {
  if [[ -n "$CONVERSATION_ID" ]]; then
    request DELETE "/v1/conversations/$CONVERSATION_ID" >/dev/null 2>&1 || log "warning: could not delete $CONVERSATION_ID"
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# request METHOD PATH [JSON_BODY] -> prints the HTTP status; the body is in $WORK/body
request() {
  local args=(-sS --max-time "$SMOKE_TIMEOUT" -o "$WORK/body" -w '%{http_code}' -X "$1")
  [[ -z "${MCP_RAG_API_TOKEN:-}" ]] || args+=(-H "Authorization: Bearer $MCP_RAG_API_TOKEN")
  [[ $# -lt 3 ]] || args+=(-H 'Content-Type: application/json' --data-binary "$3")
  curl "${args[@]}" "$BASE$2"
}

# json EXPR: evaluate a Python expression over the last body (bound to `b`), print it.
json() { python3 -c 'import json, sys; b = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$WORK/body" "$1"; }

PASSED=0
check() {
  local name=$1 expected=$2 got=$3
  if [[ "$got" != "$expected" ]]; then
    log "FAIL $name: HTTP $got, expected $expected: $(head -c 500 "$WORK/body" 2>/dev/null || true)"
    exit 1
  fi
  PASSED=$((PASSED + 1))
  log "ok   $name"
}

log "smoke-testing $BASE"
check "GET /health" 200 "$(request GET /health)"

deadline=$((SECONDS + SMOKE_READY_WAIT))
until status=$(request GET /ready) && [[ "$status" == 200 ]] || ((SECONDS >= deadline)); do sleep 2; done
check "GET /ready" 200 "$status"

check "GET /version" 200 "$(request GET /version)"
log "     version $(json 'b.get("version")')"

# A word no real conversation contains, so search can only find this one.
marker="smoketest$(date +%s)$RANDOM"
external_id="smoke-test-$marker"
body=$(
  python3 - "$external_id" "$marker" <<'PY'
import json, sys
ext, marker = sys.argv[1:]
print(json.dumps({
    "id": ext,
    "title": "mcp-rag smoke test",
    "source": "smoke-test",
    "messages": [
        {"id": "1", "author": "Ada", "role": "user",
         "content": f"The deployment codeword is {marker}. Which colour is the release train?"},
        {"id": "2", "author": "Grace", "role": "assistant",
         "content": f"The {marker} release train is painted teal."},
    ],
}))
PY
)
check "POST /v1/conversations" 201 "$(request POST /v1/conversations "$body")"
CONVERSATION_ID=$(json 'b["id"]')

check "GET /v1/search" 200 "$(request GET "/v1/search?q=$marker&top_k=5")"
found=$(json "any(h['conversation_external_id'] == '$external_id' for h in b['hits'])")
[[ "$found" == True ]] || { log "FAIL search: the smoke-test conversation is not among the hits"; exit 1; }

question=$(python3 -c 'import json, sys; print(json.dumps({"question": "What colour is the %s release train?" % sys.argv[1]}))' "$marker")
check "POST /v1/ask" 200 "$(request POST /v1/ask "$question")"
answer=$(json 'b.get("answer", "")')
[[ -n "$answer" ]] || { log "FAIL ask: empty answer"; exit 1; }
log "     answer: ${answer:0:120}"

check "DELETE /v1/conversations/{id}" 204 "$(request DELETE "/v1/conversations/$CONVERSATION_ID")"
CONVERSATION_ID=""
log "all $PASSED checks passed against $BASE"
