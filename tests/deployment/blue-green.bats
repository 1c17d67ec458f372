#!/usr/bin/env bats
# blue-green-switch.sh against the kubectl stand-in (fakes/kubectl): no
# Kubernetes API exists where these tests run; the recorded calls are checked.

bats_require_minimum_version 1.5.0

setup() {
  SCRIPT="$BATS_TEST_DIRNAME/../../deployment/scripts/blue-green-switch.sh"
  export PATH="$BATS_TEST_DIRNAME/fakes:$PATH"
  export KUBECTL_CALLS="$BATS_TEST_TMPDIR/kubectl.calls"
  : >"$KUBECTL_CALLS"
  unset FAKE_FAIL FAKE_COUNTS FAKE_LIVE
}

refute_called() {
  if grep -qF -- "$1" "$KUBECTL_CALLS"; then
    echo "unexpected kubectl call: $1" >&2
    return 1
  fi
}

@test "--status and --idle name the live and the idle colour" {
  run "$SCRIPT" -n production --status
  [ "$status" -eq 0 ]
  [ "$output" = blue ]
  FAKE_LIVE=green run "$SCRIPT" -n production --idle
  [ "$status" -eq 0 ]
  [ "$output" = blue ]
}

@test "switching to a ready colour patches the selector and prints the old colour" {
  run --separate-stderr "$SCRIPT" -n production -t green
  [ "$status" -eq 0 ]
  [ "$output" = blue ]
  grep -qF 'kubectl -n production patch service mcp-backend --type merge -p {"spec":{"selector":{"version":"green"}}}' "$KUBECTL_CALLS"
}

@test "a colour with unready replicas is not switched to" {
  FAKE_COUNTS=2/3 run "$SCRIPT" -n production -t green
  [ "$status" -eq 1 ]
  [[ "$output" == *"mcp-backend-green has 2/3 ready replicas; not switching"* ]]
  refute_called "patch service"
}

@test "a Service without a blue/green selector is refused" {
  FAKE_LIVE="" run "$SCRIPT" -n production -t green
  [ "$status" -eq 1 ]
  refute_called "patch service"
}

@test "an unknown colour is a usage error" {
  run "$SCRIPT" -n production -t purple
  [ "$status" -eq 2 ]
  [ ! -s "$KUBECTL_CALLS" ]
}
