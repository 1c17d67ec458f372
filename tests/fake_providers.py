"""Local HTTP servers that speak the real wire formats of OpenAI chat completions
and Anthropic messages.

They stand in for api.openai.com, api.anthropic.com and an Ollama / vLLM /
llama.cpp server, none of which is reachable from here. They are real HTTP
servers on loopback: the official `openai` and `anthropic` SDKs talk to them
exactly as they would talk to the real services (JSON bodies, SSE streams,
error bodies, Retry-After headers), so what is checked is what would go over
the wire.

Each server records every request and follows a `plan`: a list of actions for
the next requests (an HTTP status to fail with, "ok", or "break-mid-stream"),
then answers "ok". Its reply text comes from `reply(body)`: by default it
reads the prompt like a model would and cites the turn that mentions
`needle`, plus a made-up citation [99] that the service must drop.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def cite_turn_mentioning(needle: str) -> Callable[[dict], str]:
    def reply(body: dict) -> str:
        prompt = json.dumps(body)
        match = re.search(r"\[(\d+)\] [^\[]*?" + re.escape(needle), prompt)
        n = match.group(1) if match else "1"
        return f"Kate went skiing in {needle} [{n}], as she said [99]."

    return reply


@dataclass
class ProviderServer:
    kind: str  # "openai" or "anthropic"
    reply: Callable[[dict], str] = field(default_factory=lambda: cite_turn_mentioning("Colorado"))
    plan: list[Any] = field(default_factory=list)
    delay_s: float = 0.0
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                action = server.plan.pop(0) if server.plan else "ok"
                if server.delay_s:
                    time.sleep(server.delay_s)
                if isinstance(action, int):
                    return self._fail(action)
                text = server.reply(body)
                if body.get("stream"):
                    return self._stream(body, text, broken=action == "break-mid-stream")
                self._json(200, _complete(server.kind, body, text))

            def _fail(self, status: int) -> None:
                headers = {"retry-after-ms": "20"} if status == 429 else {}
                self._json(status, _error(server.kind, status), headers)

            def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict, text: str, broken: bool) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                pieces = re.findall(r"\S+\s*", text)
                events = _stream_events(server.kind, body, pieces, broken)
                for event in events:
                    self.wfile.write(event.encode())
                    self.wfile.flush()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}" + ("/v1" if self.kind == "openai" else "")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _complete(kind: str, body: dict, text: str) -> dict:
    if kind == "openai":
        return {
            "id": "chatcmpl-local",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
        }
    return {
        "id": "msg_local",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 10},
    }


def _error(kind: str, status: int) -> dict:
    names = {401: "authentication_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}
    message = {401: "Incorrect API key provided", 429: "Rate limit reached"}.get(status, "Server error")
    if kind == "openai":
        return {"error": {"message": message, "type": names.get(status, "api_error"), "param": None, "code": None}}
    return {"type": "error", "error": {"type": names.get(status, "api_error"), "message": message}}


def _stream_events(kind: str, body: dict, pieces: list[str], broken: bool) -> list[str]:
    if broken:
        pieces = pieces[:2]
    if kind == "openai":

        def chunk(delta: dict, finish: str | None = None) -> str:
            data = {
                "id": "chatcmpl-local",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n"

        events = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": p}) for p in pieces]
        if broken:
            return events + ['data: {"error": {"message": "upstream model crashed", "type": "server_error"}}\n\n']
        return events + [chunk({}, "stop"), "data: [DONE]\n\n"]

    def event(name: str, data: dict) -> str:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n"

    message = {
        "id": "msg_local",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 1},
    }
    events = [
        event("message_start", {"type": "message_start", "message": message}),
        event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        event("ping", {"type": "ping"}),
    ] + [
        event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in pieces
    ]
    if broken:
        return events + [
            event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        ]
    return events + [
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 10},
            },
        ),
        event("message_stop", {"type": "message_stop"}),
    ]
