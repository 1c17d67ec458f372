"""Each overlay's backend answers to the names it is reached by, and to nothing else.

A real `mcp-rag serve` runs with the overlay's rendered MCP_RAG_ALLOWED_HOSTS;
smoke-tests.sh then runs unchanged against the overlay's public host (what the
ingress passes on) and the in-cluster Service name, through a curl that
connects those names to the local server. The kubelet's probes name the pod by
its IP address.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from deploy_tools import DEPLOYMENT, SCRIPTS, postgres_data_parent, require_tool, run, tool_env

OVERLAYS = ["dev", "staging", "production"]
POD = "10.244.1.7:8000"  # Host of a kubelet probe: the pod's IP and container port


def rendered(overlay: str) -> list[dict]:
    result = run([require_tool("kubectl"), "kustomize", str(DEPLOYMENT / "kubernetes" / "overlays" / overlay)])
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=OVERLAYS)
def deployed(request) -> Iterator[tuple[str, dict, int]]:
    """(overlay, its rendered manifests by kind, the port of a server run with its allowed hosts)."""
    docs = rendered(request.param)
    config = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("mcp-backend-config")
    )
    port = free_port()
    with postgres_data_parent() as data_dir:
        env = tool_env() | {
            "MCP_RAG_ENV": "test",
            "MCP_RAG_DATA_DIR": str(data_dir),
            "MCP_RAG_HOST": "127.0.0.1",
            "MCP_RAG_PORT": str(port),
            "MCP_RAG_ALLOWED_HOSTS": config["data"]["MCP_RAG_ALLOWED_HOSTS"],
        }
        for name in ("DATABASE_URL", "MCP_RAG_DATABASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
            env.pop(name, None)
        log = (data_dir / "server.log").open("w")
        proc = subprocess.Popen(
            [require_tool("mcp-rag"), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"mcp-rag serve did not start:\n{(data_dir / 'server.log').read_text()}")
                    time.sleep(0.3)
            yield (
                request.param,
                {d["kind"]: d for d in docs if d["metadata"]["name"].startswith(("mcp-backend", "mcp-rag"))},
                port,
            )
        finally:
            proc.send_signal(signal.SIGINT)  # SIGINT stops the embedded PostgreSQL with the server
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


def smoke(base: str, port: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """smoke-tests.sh against `base`, its curl connecting every name to the local server."""
    shim = tmp_path / "bin"
    shim.mkdir(exist_ok=True)
    curl = require_tool("curl")
    (shim / "curl").write_text(f'#!/bin/sh\nexec {curl} --connect-to "::127.0.0.1:{port}" "$@"\n')
    (shim / "curl").chmod(0o755)
    env = tool_env()
    env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    env.pop("MCP_RAG_API_TOKEN", None)
    return run([str(SCRIPTS / "smoke-tests.sh"), base], env=env, timeout=180)


def test_smoke_tests_pass_through_the_public_host(deployed, tmp_path: Path):
    overlay, manifests, port = deployed
    host = manifests["Ingress"]["spec"]["rules"][0]["host"]
    result = smoke(f"http://{host}", port, tmp_path)
    assert result.returncode == 0, f"{overlay}: {result.stderr}"


def test_smoke_tests_pass_through_the_in_cluster_service_name(deployed, tmp_path: Path):
    overlay, manifests, port = deployed
    service = manifests["Service"]["metadata"]
    for name in (service["name"], f"{service['name']}.{service['namespace']}.svc.cluster.local"):
        result = smoke(f"http://{name}:8000", port, tmp_path)
        assert result.returncode == 0, f"{overlay} via {name}: {result.stderr}"


def test_probes_by_pod_ip_pass_and_other_names_get_421(deployed):
    """The kubelet sends `Host: <pod IP>:<port>`; the operations endpoints take an IP address."""
    overlay, manifests, port = deployed
    probes = manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    base = f"http://127.0.0.1:{port}"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = probes[probe]["httpGet"]["path"]
        assert httpx.get(base + path, headers={"Host": POD}).status_code == 200, (overlay, probe)
    assert httpx.get(f"{base}/v1/conversations", headers={"Host": POD}).status_code == 421
    assert httpx.get(f"{base}/v1/conversations", headers={"Host": "evil.example"}).status_code == 421
