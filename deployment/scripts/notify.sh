#!/usr/bin/env bash
# Tell people how a deploy or rollback went: Slack and/or email. See --help.
set -euo pipefail
shopt -s inherit_errexit

usage() {
  cat <<'EOF_USAGE'
Usage: notify.sh SUBJECT [BODY] [-h|--help]

Posts SUBJECT (and BODY) to a Slack incoming webhook and/or mails them, each
when configured; with neither configured it only logs.

Environment
  SLACK_WEBHOOK_URL  Slack incoming webhook
  SMTP_URL           mail server, e.g. smtps://smtp.example.com:465 (curl's SMTP)
  SMTP_USER, SMTP_PASSWORD  its credentials (optional)
  NOTIFY_EMAIL       recipient(s), comma-separated
  NOTIFY_FROM        sender (default: mcp-rag-deploy@<SMTP host>)

Exit status: 0 every configured channel took the message; 1 one failed; 2 usage.
EOF_USAGE
}

log() { printf '%s [notify] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

case "${1:-}" in -h | --help) usage; exit 0 ;; esac
[[ $# -ge 1 && $# -le 2 && -n "$1" ]] || { usage >&2; exit 2; }
SUBJECT=$1
BODY=${2:-$1}
failed=false

if [[ -n "${SLACK_WEBHOOK_URL:-}" ]]; then
  payload=$(python3 -c 'import json, sys; print(json.dumps({"text": sys.argv[1] + ("\n" + sys.argv[2] if sys.argv[2] != sys.argv[1] else "")}))' "$SUBJECT" "$BODY")
  if curl -fsS --max-time 10 -X POST -H 'Content-Type: application/json' --data-binary "$payload" "$SLACK_WEBHOOK_URL" >/dev/null; then
    log "posted to Slack"
  else
    log "warning: the Slack notification failed"
    failed=true
  fi
fi

if [[ -n "${NOTIFY_EMAIL:-}" ]]; then
  if [[ -z "${SMTP_URL:-}" ]]; then
    log "warning: NOTIFY_EMAIL is set but SMTP_URL is not"
    failed=true
  else
    host=$(sed -E 's#^[a-z]+://([^:/]+).*#\1#' <<<"$SMTP_URL")
    from=${NOTIFY_FROM:-mcp-rag-deploy@$host}
    args=(-fsS --max-time 30 --url "$SMTP_URL" --mail-from "$from")
    IFS=, read -r -a recipients <<<"$NOTIFY_EMAIL"
    for r in "${recipients[@]}"; do args+=(--mail-rcpt "${r// /}"); done
    [[ "$SMTP_URL" != smtp://* ]] || args+=(--ssl-reqd)
    mail_auth=""
    if [[ -n "${SMTP_USER:-}" ]]; then
      # Credentials through a private netrc file, never on a command line.
      mail_auth=$(mktemp)
      chmod 600 "$mail_auth"
      printf 'machine %s login %s password %s\n' "$host" "$SMTP_USER" "${SMTP_PASSWORD:-}" >"$mail_auth"
      args+=(--netrc-file "$mail_auth")
    fi
    message=$(printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n%s\r\n' "$from" "$NOTIFY_EMAIL" "$SUBJECT" "$BODY")
    if printf '%s' "$message" | curl "${args[@]}" --upload-file - >/dev/null; then
      log "mailed $NOTIFY_EMAIL"
    else
      log "warning: the email notification failed"
      failed=true
    fi
    [[ -z "$mail_auth" ]] || rm -f "$mail_auth"
  fi
fi

if [[ -z "${SLACK_WEBHOOK_URL:-}${NOTIFY_EMAIL:-}" ]]; then log "no channel configured: $SUBJECT"; fi
[[ "$failed" == false ]]
