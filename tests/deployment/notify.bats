#!/usr/bin/env bats
# notify.sh against the curl stand-in (fakes/curl), which records its calls:
# neither Slack nor a mail server can be reached where these tests run.

bats_require_minimum_version 1.5.0

setup() {
  SCRIPT="$BATS_TEST_DIRNAME/../../deployment/scripts/notify.sh"
  export PATH="$BATS_TEST_DIRNAME/fakes:$PATH"
  export CURL_CALLS="$BATS_TEST_TMPDIR/curl.calls"
  : >"$CURL_CALLS"
  unset SLACK_WEBHOOK_URL NOTIFY_EMAIL SMTP_URL SMTP_USER SMTP_PASSWORD NOTIFY_FROM FAKE_CURL_FAIL
}

@test "Slack and email both get the message" {
  export SLACK_WEBHOOK_URL=https://hooks.example.invalid/T000 SMTP_URL=smtps://smtp.example.invalid:465
  export NOTIFY_EMAIL="ops@example.invalid, oncall@example.invalid" SMTP_USER=deploy SMTP_PASSWORD=s3cret
  run "$SCRIPT" "mcp-rag deploy to production: FAILED" "rolled back to blue"
  [ "$status" -eq 0 ]
  grep -q 'curl -fsS --max-time 10 -X POST -H Content-Type: application/json --data-binary {"text": "mcp-rag deploy to production: FAILED\\nrolled back to blue"} https://hooks.example.invalid/T000' "$CURL_CALLS"
  grep -q -- "--url smtps://smtp.example.invalid:465 --mail-from mcp-rag-deploy@smtp.example.invalid --mail-rcpt ops@example.invalid --mail-rcpt oncall@example.invalid" "$CURL_CALLS"
  if grep -q s3cret "$CURL_CALLS"; then echo "the SMTP password is on curl's command line" >&2; return 1; fi
}

@test "nothing configured only logs" {
  run "$SCRIPT" "deployed"
  [ "$status" -eq 0 ]
  [[ "$output" == *"no channel configured"* ]]
  [ ! -s "$CURL_CALLS" ]
}

@test "a failing channel is reported with exit 1" {
  export SLACK_WEBHOOK_URL=https://hooks.example.invalid/T000 FAKE_CURL_FAIL=true
  run "$SCRIPT" "deployed"
  [ "$status" -eq 1 ]
  [[ "$output" == *"Slack notification failed"* ]]
}

@test "email without a mail server is reported" {
  export NOTIFY_EMAIL=ops@example.invalid
  run "$SCRIPT" "deployed"
  [ "$status" -eq 1 ]
  [[ "$output" == *"SMTP_URL is not"* ]]
}
