"""frontend/nginx.conf served for real by nginx: SPA routing, gzip, caching, health, API proxy.

The production image runs the same file (rendered from a template with
BACKEND_URL); here the listen address, web root and backend are local.
"""

from __future__ import annotations

import gzip
import http.server
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from deploy_tools import REPO, require_tool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeBackend(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f'{{"backend": true, "path": "{self.path}"}}'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def frontend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    nginx = require_tool("nginx")
    tmp = tmp_path_factory.mktemp("nginx")
    html = tmp / "html"
    (html / "assets").mkdir(parents=True)
    (html / "index.html").write_text("<!doctype html><div id=root>mcp-rag</div>")
    (html / "assets" / "app-1a2b3c.js").write_text("console.log('mcp-rag');\n" * 500)

    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeBackend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()

    port = free_port()
    server = (REPO / "frontend" / "nginx.conf").read_text()
    server = server.replace("${BACKEND_URL}", f"http://127.0.0.1:{backend.server_address[1]}")
    server = server.replace("/usr/share/nginx/html", str(html))
    server = server.replace("listen 8080;", f"listen 127.0.0.1:{port};").replace("listen [::]:8080;", "")
    (tmp / "server.conf").write_text(server)
    (tmp / "nginx.conf").write_text(
        f"""
        daemon off;
        worker_processes 1;
        pid {tmp}/nginx.pid;
        error_log stderr;
        user root;
        events {{}}
        http {{
            include /etc/nginx/mime.types;
            access_log off;
            client_body_temp_path {tmp}/body;
            proxy_temp_path {tmp}/proxy;
            fastcgi_temp_path {tmp}/fastcgi;
            uwsgi_temp_path {tmp}/uwsgi;
            scgi_temp_path {tmp}/scgi;
            include {tmp}/server.conf;
        }}
        """
    )
    proc = subprocess.Popen(
        [nginx, "-e", "stderr", "-p", str(tmp), "-c", str(tmp / "nginx.conf")], stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # generous: a loaded machine starts nginx slowly
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"nginx did not start: {proc.stderr.read() if proc.stderr else ''}")
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        backend.shutdown()
        backend.server_close()


def get(url: str, **headers: str):
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5)


def test_deep_links_load_the_spa_uncached(frontend: str):
    with get(f"{frontend}/conversations/123") as response:
        assert response.status == 200
        assert b"<div id=root>" in response.read()
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_hashed_assets_are_gzipped_and_cached_for_a_year(frontend: str):
    with get(f"{frontend}/assets/app-1a2b3c.js", **{"Accept-Encoding": "gzip"}) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers.get_all("Cache-Control") == ["public, max-age=31536000, immutable"]
        assert gzip.decompress(response.read()).startswith(b"console.log")


def test_a_missing_asset_is_404_not_the_spa_and_not_cached_for_a_year(frontend: str):
    with pytest.raises(urllib.error.HTTPError) as err:
        get(f"{frontend}/assets/nope.js")
    assert err.value.code == 404
    assert "immutable" not in (err.value.headers.get("Cache-Control") or "")


def test_api_and_operations_are_proxied_to_the_backend(frontend: str):
    for path in ("/v1/search?q=x", "/mcp", "/ready"):
        with get(f"{frontend}{path}") as response:
            assert b'"backend": true' in response.read(), path


def test_version_is_proxied_only_for_callers_with_a_token(frontend: str):
    with pytest.raises(urllib.error.HTTPError) as err:
        get(f"{frontend}/version")
    assert err.value.code == 404
    with get(f"{frontend}/version", Authorization="Bearer mrag_x") as response:
        assert b'"backend": true' in response.read()


def test_healthz_answers_without_the_backend(frontend: str):
    with get(f"{frontend}/healthz") as response:
        assert response.read() == b"ok\n"
