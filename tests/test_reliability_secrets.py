"""Secrets stay secret: token values never reach the logs, error bodies carry no internals."""

from __future__ import annotations

import logging

from builders import make_conversation

from mcp_rag import auth, logs


def test_token_secrets_never_reach_the_logs_and_errors_say_nothing_internal(client, service, caplog):
    token = auth.create_token(service, "default", "read,write", name="ci")
    wrong = token.token[:-4] + "XXXX"
    try:
        with caplog.at_level(logging.DEBUG):
            ok = client.get("/v1/conversations", headers={"Authorization": f"Bearer {token.token}"})
            bad = client.get("/v1/conversations", headers={"Authorization": f"Bearer {wrong}"})
            missing = client.get("/v1/conversations/nothing", headers={"Authorization": f"Bearer {token.token}"})
    finally:
        auth.revoke_token(service, str(token.id))  # later tests run open again
    assert ok.status_code == 200 and bad.status_code == 401 and missing.status_code == 404
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records, "the requests were logged"
    assert token.token not in logged and wrong not in logged
    with service.connection() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM api_tokens").scalars().all()
    assert token.token not in stored and all(len(h) == 64 for h in stored), "only SHA-256 hashes are stored"
    for r in (bad, missing):
        body = r.text
        assert "Traceback" not in body and "sqlalchemy" not in body.lower() and "psycopg" not in body


def test_message_text_never_reaches_the_logs_even_at_debug(client, service, caplog):
    # At DEBUG, sse_starlette logs every server-sent event it writes: a streamed answer
    # quotes the conversation. The server's logging setup keeps such libraries at INFO.
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in ("sse_starlette", "mcp")}
    logs.configure("DEBUG", json_lines=True)
    root.addHandler(caplog.handler)
    try:
        service.ingest(make_conversation(), "default")
        with caplog.at_level(logging.DEBUG):
            answer = client.post("/v1/ask", json={"question": "Where did Kate go skiing?", "stream": True})
    finally:
        root.handlers[:], level, levels = saved
        root.setLevel(level)
        for name, value in levels.items():
            logging.getLogger(name).setLevel(value)
    assert answer.status_code == 200 and "Colorado" in answer.text, "the answer quotes the conversation"
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert caplog.records, "the request was logged"
    assert "Colorado" not in logged
