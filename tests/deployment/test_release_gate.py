"""What CD may ship: release-gate.sh against a local stand-in of the GitHub REST
API (the real one cannot be reached here; the stand-in answers the workflow-runs
endpoint with GitHub's JSON shape and records each request), and the CodeQL
SARIF gate on reports in SARIF 2.1.0's shape."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from deploy_tools import SCRIPTS, run, tool_env

SHA = "3" * 40


class GitHub:
    def __init__(self) -> None:
        self.runs: list[dict] = []
        self.requests: list[tuple[str, dict, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                url = urlsplit(self.path)
                outer.requests.append((url.path, parse_qs(url.query), self.headers.get("Authorization", "")))
                body = json.dumps({"total_count": len(outer.runs), "workflow_runs": outer.runs}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def github() -> Iterator[GitHub]:
    server = GitHub()
    yield server
    server.httpd.shutdown()


def gate(github: GitHub, sha: str = SHA):
    env = tool_env() | {"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "acme/mcp-rag", "GITHUB_TOKEN": "ghs_secret"}
    return run(["bash", str(SCRIPTS / "release-gate.sh"), sha], env=env)


def green_run(**overrides) -> dict:
    return {"id": 42, "head_sha": SHA, "head_branch": "main", "event": "push", "conclusion": "success"} | overrides


def test_a_commit_with_a_green_ci_run_on_main_passes_and_names_the_run(github: GitHub):
    github.runs = [green_run()]

    result = gate(github)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "run_id=42"
    ((path, query, auth),) = github.requests
    assert path == "/repos/acme/mcp-rag/actions/workflows/ci.yml/runs"
    assert query["head_sha"] == [SHA] and query["branch"] == ["main"] and query["status"] == ["success"]
    assert auth == "Bearer ghs_secret"


@pytest.mark.parametrize(
    "runs",
    [
        [],
        [green_run(conclusion="failure")],
        [green_run(head_branch="feature")],
        [green_run(event="pull_request")],
        [green_run(head_sha="4" * 40)],
    ],
    ids=["no-run", "failed", "other-branch", "pull-request", "other-commit"],
)
def test_a_commit_without_a_green_ci_run_on_main_is_refused(github: GitHub, runs: list[dict]):
    github.runs = runs

    result = gate(github)

    assert result.returncode == 1
    assert "REFUSED" in result.stderr and "run_id" not in result.stdout


def test_a_short_or_symbolic_ref_is_a_usage_error(github: GitHub):
    result = gate(github, "main")
    assert result.returncode == 2 and not github.requests


# ---------------------------------------------------------------- CodeQL gate


def sarif(results: list[dict], rules: list[dict]) -> dict:
    return {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "CodeQL", "rules": rules}}, "results": results}]}


def result(rule: str, level: str | None = None) -> dict:
    r = {
        "ruleId": rule,
        "message": {"text": "found"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": "mcp_rag/x.py"}, "region": {"startLine": 3}}}],
    }
    return r | ({"level": level} if level else {})


RULES = [
    {"id": "py/sql-injection", "properties": {"tags": ["security"], "security-severity": "8.8"}},
    {"id": "py/weak-crypto-lowish", "properties": {"tags": ["security"], "security-severity": "2.0"}},
    {"id": "py/unused-import", "properties": {"tags": ["maintainability"]}, "defaultConfiguration": {"level": "note"}},
]


@pytest.mark.parametrize(
    ("results", "blocked"),
    [
        ([result("py/sql-injection", "error")], True),
        ([result("py/sql-injection", "warning")], True),  # security severity decides, whatever the level
        ([result("py/weak-crypto-lowish", "warning")], False),
        ([result("py/unused-import")], False),
        ([], False),
    ],
)
def test_codeql_gate_blocks_security_findings_and_errors_only(tmp_path: Path, results: list[dict], blocked: bool):
    report = tmp_path / "python.sarif"
    report.write_text(json.dumps(sarif(results, RULES)))

    out = run([sys.executable, str(SCRIPTS / "sarif_gate.py"), str(tmp_path)])

    assert out.returncode == (1 if blocked else 0), out.stdout + out.stderr
    assert ("mcp_rag/x.py:3: py/sql-injection" in out.stdout) == blocked
