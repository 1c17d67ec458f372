"""What the lean default leaves out of memory until it is used (docs/PERFORMANCE.md, memory)."""

from __future__ import annotations

import subprocess
import sys

# A web app over a data dir nobody opens: REST's /health, then MCP's initialize at /mcp.
SCRIPT = """
import sys, tempfile
from pathlib import Path
from starlette.testclient import TestClient
from mcp_rag.api.app import create_app
from mcp_rag.config import load_settings
app = create_app(load_settings(data_dir=Path(tempfile.mkdtemp()), env="test"))
with TestClient(app, base_url="http://127.0.0.1:8000") as client:
    assert client.get("/health").status_code == 200
    print("after REST:", "mcp" in sys.modules)
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
            "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    reply = client.post("/mcp", json=init, headers=headers)
    print("after MCP:", "mcp" in sys.modules, reply.status_code, "mcp-rag" in reply.text)
"""


def test_the_mcp_sdk_is_loaded_by_the_first_mcp_request_not_by_the_web_app():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["after REST: False", "after MCP: True 200 True"]
