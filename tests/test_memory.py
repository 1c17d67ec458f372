"""What the lean default leaves out of memory until it is used (docs/PERFORMANCE.md, memory)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from builders import wait_until

from mcp_rag.embed import OnnxMiniLM

TEXTS = ["I went skiing in the mountains", "We hit the ski slopes", "The invoice is overdue"]

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


# -- the document model's keep-alive -------------------------------------------------------


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def test_the_document_model_is_released_after_its_keep_alive_and_reloaded_on_demand():
    model = OnnxMiniLM(keep_alive=0.5)
    first = model.embed(TEXTS)
    assert model.loaded
    loaded_rss = rss_mib()

    assert wait_until(lambda: not model.loaded, 10), "still loaded well past its keep-alive"
    # Most of its weights (~90 MiB, less what other models in this process share) go back to the system.
    assert rss_mib() < loaded_rss - 30, (loaded_rss, rss_mib())

    assert np.array_equal(model.embed(TEXTS), first)  # loaded again on demand: the same vectors
    assert model.loaded


def test_use_within_the_keep_alive_keeps_the_model_and_a_running_embed_is_never_cut():
    model = OnnxMiniLM(keep_alive=1.0)
    model.embed(TEXTS)
    for _ in range(6):  # used every 0.3 s for ~1.8 s: never idle for 1 s
        time.sleep(0.3)
        model.embed(TEXTS[:1])
        assert model.loaded

    long_texts = [f"{t} number {i}" for i in range(3000) for t in TEXTS[:1]]
    done: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: done.append(model.embed(long_texts)))
    worker.start()
    assert wait_until(lambda: model._running > 0, 10)
    assert not model.release()  # an embed() is under way: the session stays
    worker.join(120)
    assert done and done[0].shape == (3000, 384)
    assert wait_until(lambda: not model.loaded, 10)


def test_the_keep_alive_setting_applies_to_the_document_model_only(tmp_path):
    from mcp_rag.config import load_settings
    from mcp_rag.embed import get_embedder, get_query_embedder

    settings = load_settings(data_dir=tmp_path, env="test", doc_model_keep_alive=42)
    assert getattr(get_embedder(settings), "keep_alive", None) == 42
    assert getattr(get_query_embedder(settings), "keep_alive", "absent") is None  # every search needs it
    forever = load_settings(data_dir=tmp_path, env="test", doc_model_keep_alive=-1)
    assert getattr(get_embedder(forever), "keep_alive", "absent") is None


# A server process on a fresh data dir: migrated (in a child process) and ready.
MIGRATED = """
import sys
from mcp_rag.config import load_settings
from mcp_rag.service import Service
service = Service(load_settings(data_dir=sys.argv[1], env="test"))
service.ready()
print("alembic" in sys.modules, service.status()["schema_revision"] == service.status()["schema_head"])
service.close()
"""


def test_a_server_migrates_its_database_without_keeping_alembic_loaded(tmp_path):
    tmp_path.chmod(0o755)  # the embedded server runs as its own user
    out = subprocess.run([sys.executable, "-c", MIGRATED, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "True"]


# The web app over the session's data dir, one search and one conversation listed; then the
# loaded modules that only other work needs (imports, other languages' stemmers).
SEARCHED = """
import sys
from starlette.testclient import TestClient
from mcp_rag.api.app import create_app
from mcp_rag.config import load_settings
app = create_app(load_settings(data_dir=sys.argv[1], env="test"))
with TestClient(app, base_url="http://127.0.0.1:8000") as client:
    reply = client.post("/v1/search", json={"query": "where did they go skiing", "top_k": 5})
    assert reply.status_code == 200, reply.text
    assert client.get("/v1/conversations").status_code == 200
loaded = set(sys.modules)
print("stemmer:", "mcp_rag_snowball.english_stemmer" in loaded)
others = {m for m in loaded if m.split(".")[0] in ("snowballstemmer", "ijson")}
print(*sorted(others | {m for m in loaded if m.startswith("mcp_rag.importers.")}))
"""


def test_a_server_after_a_search_has_loaded_no_importer_and_one_stemmer(service, data_dir):
    out = subprocess.run([sys.executable, "-c", SEARCHED, str(data_dir)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    stemmer, loaded = out.stdout.splitlines()
    assert stemmer == "stemmer: True"
    assert loaded.split() == ["mcp_rag.importers.report"]  # the import reply's model, for the route's types


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps")
def test_a_lean_server_runs_asyncio_s_loop_and_no_websocket_protocol(service, data_dir):
    import httpx
    from server import Server

    server = Server(data_dir).wait_ready()
    try:
        r = httpx.post(f"{server.url}/v1/search", json={"query": "skiing", "top_k": 5})
        assert r.status_code == 200, r.text
        mapped = Path(f"/proc/{server.proc.pid}/maps").read_text()
    finally:
        server.stop()
    assert "/onnxruntime/" in mapped  # the maps are the server's, after its first search
    assert "/uvloop/" not in mapped and "/websockets/" not in mapped
