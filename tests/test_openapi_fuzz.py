"""Schemathesis over the app's own OpenAPI spec, against a real server process:
generated requests, malformed ones included, must never produce a 5xx or a
response that breaks the spec (status codes, content types, schemas)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from server import MCP_RAG, Server

ST = str(Path(sys.executable).with_name("st"))


def test_schemathesis_finds_no_server_errors_or_spec_violations(tmp_path):
    server = Server(tmp_path, env={"MCP_RAG_RATE_LIMIT_PER_MINUTE": "0"}).wait_ready()
    # An admin token up front: the fuzzer may create tokens, which ends open mode.
    token = subprocess.run(
        [MCP_RAG, "tokens", "create", "--scopes", "read,write,admin"],
        env={**os.environ, "MCP_RAG_DATA_DIR": str(tmp_path), "MCP_RAG_ENV": "test"},
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    try:
        run = subprocess.run(
            [
                ST, "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
                "run", f"{server.url}/openapi.json",
                "--checks", "all",
                # Generated ids are random, so "create then fetch" links and
                # positive-data checks for ids cannot hold; everything else must.
                "--exclude-checks", "use_after_free,ensure_resource_availability,positive_data_acceptance",
                "--max-examples", "20",
                "--workers", "2",
                # The "coverage" phase trips an internal hypothesis error (an AST recursion
                # SystemError inside schemathesis 4.32 on this schema), not a finding about us.
                "--phases", "examples,fuzzing",
                "--suppress-health-check", "all",
                "--seed", "1",
                "-H", f"Authorization: Bearer {token}",
            ],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
    finally:
        server.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert server.log.read_text().count('"status": 5') == 0
