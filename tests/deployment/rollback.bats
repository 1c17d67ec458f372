#!/usr/bin/env bats
# rollback.sh against a kubectl stand-in (fakes/kubectl) that records its calls:
# no Kubernetes API exists where these tests run, so what is checked is the
# sequence of kubectl commands the script issues and how it reacts to failures.

bats_require_minimum_version 1.5.0

setup() {
  SCRIPT="$BATS_TEST_DIRNAME/../../deployment/scripts/rollback.sh"
  export PATH="$BATS_TEST_DIRNAME/fakes:$PATH"
  export KUBECTL_CALLS="$BATS_TEST_TMPDIR/kubectl.calls" CURL_CALLS="$BATS_TEST_TMPDIR/curl.calls"
  : >"$KUBECTL_CALLS"
  : >"$CURL_CALLS"
  unset SLACK_WEBHOOK_URL NOTIFY_EMAIL HEALTH_URL SKIP_HEALTH_CHECK FAKE_FAIL FAKE_COUNTS FAKE_MISSING
}

# `! grep` would not fail a bats test (errexit ignores negated commands); this does.
refute_called() {
  if grep -qF -- "$1" "$KUBECTL_CALLS"; then
    echo "unexpected kubectl call: $1" >&2
    return 1
  fi
}

@test "--help prints usage and exits 0" {
  run "$SCRIPT" --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"Usage: rollback.sh -n NAMESPACE -d DEPLOYMENT"* ]]
}

@test "missing -d is a usage error" {
  run "$SCRIPT" -n prod
  [ "$status" -eq 2 ]
  [[ "$output" == *"-d DEPLOYMENT is required"* ]]
  [ ! -s "$KUBECTL_CALLS" ]
}

@test "rolls back to the previous revision: status, history, undo, wait, verify, health" {
  run "$SCRIPT" -n prod -d mcp-backend
  [ "$status" -eq 0 ]
  run cat "$KUBECTL_CALLS"
  [[ "${lines[0]}" == "kubectl -n prod get deployment mcp-backend" ]]
  [[ "$output" == *"kubectl -n prod rollout history deployment/mcp-backend"* ]]
  [[ "$output" == *"kubectl -n prod rollout undo deployment/mcp-backend"$'\n'* ]]
  [[ "$output" == *"kubectl -n prod rollout status deployment/mcp-backend --timeout=300s"* ]]
  [[ "$output" == *"kubectl -n prod exec deploy/mcp-backend -c backend -- python -c"*"http://127.0.0.1:8000/health"* ]]
  [[ "$output" != *"--to-revision"* ]]
}

@test "-r rolls back to the given revision" {
  run "$SCRIPT" -n prod -d mcp-backend -r 5
  [ "$status" -eq 0 ]
  grep -qx "kubectl -n prod rollout undo deployment/mcp-backend --to-revision=5" "$KUBECTL_CALLS"
}

@test "a non-numeric revision is refused before any kubectl call" {
  run "$SCRIPT" -n prod -d mcp-backend -r latest
  [ "$status" -eq 2 ]
  [ ! -s "$KUBECTL_CALLS" ]
}

@test "a missing deployment fails without undoing anything" {
  FAKE_MISSING=true run "$SCRIPT" -n prod -d nope
  [ "$status" -eq 1 ]
  [[ "$output" == *"deployment nope not found in namespace prod"* ]]
  refute_called "rollout undo"
}

@test "a rollout that does not finish in time fails and tells Slack" {
  export SLACK_WEBHOOK_URL=https://hooks.example.invalid/T000
  FAKE_FAIL="--timeout=300s" run "$SCRIPT" -n prod -d mcp-backend
  [ "$status" -eq 1 ]
  [[ "$output" == *"rollout did not finish within 300s"* ]]
  grep -q "FAILED rollback of mcp-backend in prod" "$CURL_CALLS"
}

@test "pods not all ready after the rollback is a failure" {
  FAKE_COUNTS=1/3 run "$SCRIPT" -n prod -d mcp-backend
  [ "$status" -eq 1 ]
  [[ "$output" == *"only 1 of 3 pods are ready"* ]]
}

@test "a failing health check is a failure" {
  FAKE_FAIL="exec deploy/mcp-backend" run "$SCRIPT" -n prod -d mcp-backend
  [ "$status" -eq 1 ]
  [[ "$output" == *"health check failed after the rollback"* ]]
}

@test "HEALTH_URL is checked with curl and success is posted to Slack" {
  export HEALTH_URL=https://mcp-rag.example.invalid/ready SLACK_WEBHOOK_URL=https://hooks.example.invalid/T000
  run "$SCRIPT" -n prod -d mcp-backend
  [ "$status" -eq 0 ]
  grep -q "curl -fsS --max-time 10 -o /dev/null https://mcp-rag.example.invalid/ready" "$CURL_CALLS"
  grep -q "SUCCEEDED rollback of mcp-backend in prod" "$CURL_CALLS"
  refute_called " exec "
}

@test "-i asks first and a 'no' cancels before undo" {
  run bash -c "printf '\nn\n' | '$SCRIPT' -n prod -d mcp-backend -i"
  [ "$status" -eq 4 ]
  [[ "$output" == *"cancelled"* ]]
  refute_called "rollout undo"
}

@test "-i with 'yes' goes ahead" {
  run bash -c "printf '\nyes\n' | '$SCRIPT' -n prod -d mcp-backend -i"
  [ "$status" -eq 0 ]
  grep -q "rollout undo" "$KUBECTL_CALLS"
}

@test "-i alone asks for the namespace, the deployment and the revision, listing the choices" {
  run bash -c "printf 'prod\nmcp-backend\n5\ny\n' | '$SCRIPT' -i"
  [ "$status" -eq 0 ]
  [[ "$output" == *"mcp-rag-production"* ]]       # the namespaces it offered
  [[ "$output" == *"mcp-backend-blue"* ]]         # the deployments it offered
  grep -qx "kubectl -n prod rollout undo deployment/mcp-backend --to-revision=5" "$KUBECTL_CALLS"
}

@test "the status shows the image, the pods and the target revision's details" {
  run "$SCRIPT" -n prod -d mcp-backend -r 5
  [ "$status" -eq 0 ]
  [[ "$output" == *"revision 7, image ghcr.io/acme/mcp-rag-backend@sha256:"* ]]
  [[ "$output" == *"mcp-backend-7d9f-abcde 1/1 Running"* ]]
  [[ "$output" == *"with revision #5"* ]]
  grep -q "kubectl -n prod get pods -l app.kubernetes.io/name=mcp-backend -o wide" "$KUBECTL_CALLS"
}

@test "-i with an empty answer for the deployment is a usage error, nothing undone" {
  run bash -c "printf 'prod\n\n' | '$SCRIPT' -i"
  [ "$status" -eq 2 ]
  refute_called "rollout undo"
}

@test "an unknown revision fails before undoing" {
  FAKE_FAIL="--revision=9" run "$SCRIPT" -n prod -d mcp-backend -r 9
  [ "$status" -eq 1 ]
  [[ "$output" == *"revision 9 not found"* ]]
  refute_called "rollout undo"
}
