"""What the lean default leaves out of memory until it is used (docs/PERFORMANCE.md, memory)."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


# Eight threads allocate at once (bytearrays past pymalloc's small-object limit go to malloc),
# then glibc prints one "Arena N:" block per arena on stderr.
ARENAS = """
import ctypes, sys, threading
from mcp_rag.config import load_settings
from mcp_rag.service import Service
Service(load_settings(data_dir=sys.argv[1], env="test", memory_profile=sys.argv[2]))
barrier = threading.Barrier(8)
def allocate():
    barrier.wait()
    kept = [bytearray(4096) for _ in range(200)]
    barrier.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas: Linux only")
@pytest.mark.parametrize(("profile", "most"), [("lean", 2), ("speed", 9)])
def test_the_lean_profile_caps_the_allocators_arenas(tmp_path, profile, most):
    out = subprocess.run(
        [sys.executable, "-c", ARENAS, str(tmp_path), profile], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    arenas = sum(line.startswith("Arena ") for line in out.stderr.splitlines())
    assert 1 <= arenas <= most
    if profile == "speed":
        assert arenas > 2  # glibc's own default: an arena per allocating thread, up to 8 per core
