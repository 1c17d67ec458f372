"""deploy.sh, the CD pipeline's steps, in order, with their rollback paths.

No Kubernetes API exists where these tests run: kubectl is a stand-in
(fakes/kubectl) that records every call; rendering goes to the real `kubectl
kustomize`. Prometheus is a local HTTP server speaking its query API
(/api/v1/query, JSON). The smoke tests are a recording stand-in (fakes/smoke);
smoke-tests.sh itself is tested against a real server in test_smoke_tests.py.
Every stand-in writes to one call log, so the order of the steps is checked
across all of them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from deploy_tools import SCRIPTS, require_tool, run, tool_env

FAKES = Path(__file__).parent / "fakes"
BACKEND = "ghcr.io/acme/mcp-rag-backend@sha256:" + "b" * 64
FRONTEND = "ghcr.io/acme/mcp-rag-frontend@sha256:" + "f" * 64


class Prometheus:
    """Answers instant queries like Prometheus does; `values` sets what each metric reads."""

    def __init__(self, calls: Path):
        self.values = {"traffic": "4.2", "errors": "0", "p95": "0.12"}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                url = urlsplit(self.path)
                query = parse_qs(url.query).get("query", [""])[0]
                kind = "p95" if "histogram_quantile" in query else "errors" if '"5.."' in query else "traffic"
                with calls.open("a") as f:
                    f.write(f"prometheus {kind} {query}\n")
                value = outer.values[kind]
                result = [] if value is None else [{"metric": {}, "value": [1700000000, value]}]
                body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
                self.send_response(200 if url.path == "/api/v1/query" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    path = tmp_path / "calls"
    path.touch()
    return path


@pytest.fixture
def prometheus(calls: Path) -> Iterator[Prometheus]:
    server = Prometheus(calls)
    yield server
    server.httpd.shutdown()


def fake_bin(tmp_path: Path) -> Path:
    """kubectl's stand-in only: curl stays real, for the Prometheus server."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "kubectl").exists():
        (bin_dir / "kubectl").symlink_to(FAKES / "kubectl")
    return bin_dir


def deploy(env: str, calls: Path, tmp_path: Path, prometheus: Prometheus | None, **fake: str):
    real_kubectl = require_tool("kubectl")  # renders the manifests
    full = tool_env() | {
        "PATH": f"{fake_bin(tmp_path)}:{tool_env()['PATH']}",
        "REAL_KUBECTL": real_kubectl,
        "KUBECTL_CALLS": str(calls),
        "SMOKE_TESTS": str(FAKES / "smoke"),
        "WORK_DIR": str(tmp_path / "work"),
        "RELEASE_ID": "r1",
        "PORT_FORWARD_WAIT": "0",
        "VERIFY_DURATION": "0",
        "VERIFY_SETTLE": "0",
        "ROLLBACK_TIMEOUT": "5s",
        "SKIP_HEALTH_CHECK": "true",
    }
    for name in ("GITHUB_ACTIONS", "PROMETHEUS_URL", "SLACK_WEBHOOK_URL", "NOTIFY_EMAIL"):
        full.pop(name, None)
    if prometheus is not None:
        full["PROMETHEUS_URL"] = prometheus.url
    full |= fake
    result = run(
        ["bash", str(SCRIPTS / "deploy.sh"), "-e", env, "--backend-image", BACKEND, "--frontend-image", FRONTEND],
        env=full,
        timeout=180,
    )
    return result.returncode, result.stderr, calls.read_text().splitlines()


def index(lines: list[str], needle: str) -> int:
    for i, line in enumerate(lines):
        if needle in line:
            return i
    raise AssertionError(f"no call with {needle!r} in:\n" + "\n".join(lines))


def assert_in_order(lines: list[str], *needles: str) -> None:
    positions = [index(lines, n) for n in needles]
    assert positions == sorted(positions), list(zip(needles, positions, strict=True))


def never(lines: list[str], needle: str) -> None:
    assert not [line for line in lines if needle in line], f"unexpected call with {needle!r}"


# ---------------------------------------------------------------- rolling (staging)


def test_rolling_deploy_runs_backup_and_migration_before_the_rollout_then_smoke_then_verify(
    calls: Path, tmp_path: Path, prometheus: Prometheus
):
    code, log, lines = deploy("staging", calls, tmp_path, prometheus)

    assert code == 0, log
    assert_in_order(
        lines,
        "get secret mcp-rag-smoke-token",
        "apply -f " + str(tmp_path / "work" / "settings.yaml"),
        "create -f " + str(tmp_path / "work" / "job.yaml"),
        "logs job/mcp-rag-migrate-r1",
        "apply -f " + str(tmp_path / "work" / "workloads.yaml"),
        "rollout status deployment/mcp-backend ",
        "rollout status deployment/mcp-frontend ",
        "smoke staging token=mrag_fake-smoke-token",
        "prometheus traffic",
        "prometheus errors",
        "prometheus p95",
    )
    never(lines, "rollout undo")
    (job,) = yaml.safe_load_all((tmp_path / "work" / "job.yaml").read_text())
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == BACKEND  # migrated by the new image
    workloads = list(yaml.safe_load_all((tmp_path / "work" / "workloads.yaml").read_text()))
    assert {d["kind"] for d in workloads} >= {"Deployment", "HorizontalPodAutoscaler", "Service"}
    assert "ConfigMap" not in {d["kind"] for d in workloads}


def test_a_failed_migration_job_stops_before_anything_is_rolled_out(calls: Path, tmp_path: Path, prometheus):
    code, log, lines = deploy("staging", calls, tmp_path, prometheus, FAKE_JOB_EXIT="4")

    assert code == 14, log  # 10 + run-migrations.sh's "downgraded, data may differ"
    assert "fake migration log" in log
    never(lines, "workloads.yaml")
    never(lines, "rollout undo")
    never(lines, "smoke ")


def test_failed_smoke_tests_roll_back_each_deployment_to_the_revision_it_had(calls: Path, tmp_path: Path, prometheus):
    code, log, lines = deploy("staging", calls, tmp_path, prometheus, FAKE_SMOKE_FAIL="staging")

    assert code == 1, log
    assert_in_order(
        lines,
        "workloads.yaml",
        "smoke staging",
        "rollout undo deployment/mcp-backend --to-revision=7",
        "rollout undo deployment/mcp-frontend --to-revision=7",
    )
    never(lines, "prometheus")


def test_no_rollout_undo_when_the_apply_created_no_new_revision(calls: Path, tmp_path: Path, prometheus):
    """Undoing a revision this deploy did not create would go one release too far back."""
    code, log, lines = deploy("staging", calls, tmp_path, prometheus, FAKE_SMOKE_FAIL="staging", FAKE_NO_CHANGE="true")

    assert code == 1, log
    never(lines, "rollout undo")
    assert "still on revision 7: nothing to roll back" in log


@pytest.mark.parametrize(
    ("metric", "value", "reason", "extra"),
    [
        ("errors", "0.2", "error rate 0.2 is above 0.01", {}),
        ("p95", "2.5", "p95 latency 2.5s is above 0.5s", {}),
        ("traffic", None, "below 0.01", {"VERIFY_MIN_RPS": "0.01"}),
    ],
)
def test_prometheus_breach_after_the_rollout_rolls_back(
    calls: Path, tmp_path: Path, prometheus: Prometheus, metric: str, value: str | None, reason: str, extra: dict
):
    prometheus.values[metric] = value

    code, log, lines = deploy("staging", calls, tmp_path, prometheus, **extra)

    assert code == 1, log
    assert reason in log
    assert_in_order(
        lines, "smoke staging", f"prometheus {metric}", "rollout undo deployment/mcp-backend --to-revision=7"
    )


def test_images_are_deployed_by_digest_only(calls: Path, tmp_path: Path):
    result = run(
        [
            "bash",
            str(SCRIPTS / "deploy.sh"),
            "-e",
            "staging",
            "--backend-image",
            "ghcr.io/acme/b:v1",
            "--frontend-image",
            FRONTEND,
        ],
        env=tool_env() | {"PATH": f"{fake_bin(tmp_path)}:{tool_env()['PATH']}", "KUBECTL_CALLS": str(calls)},
    )
    assert result.returncode == 2 and "by digest" in result.stderr
    assert calls.read_text() == ""


# ---------------------------------------------------------------- blue-green (production)


def test_blue_green_migrates_before_the_switch_and_verifies_the_new_colour(
    calls: Path, tmp_path: Path, prometheus: Prometheus
):
    code, log, lines = deploy("production", calls, tmp_path, prometheus, FAKE_LIVE="blue")

    assert code == 0, log
    assert_in_order(
        lines,
        "get service mcp-backend",
        "apply -f " + str(tmp_path / "work" / "settings.yaml"),
        "create -f " + str(tmp_path / "work" / "job.yaml"),
        "apply -f " + str(tmp_path / "work" / "workloads.yaml"),
        "rollout status deployment/mcp-backend-green",
        "smoke http://127.0.0.1:18000",
        'patch service mcp-backend --type merge -p {"spec":{"selector":{"version":"green"}}}',
        f"set image deployment/mcp-frontend frontend={FRONTEND}",
        "rollout status deployment/mcp-frontend",
        "smoke production",
        "prometheus traffic",
    )
    # The port-forward runs in the background: its call is logged after the rollout, before the switch.
    assert_in_order(lines, "rollout status deployment/mcp-backend-green", "port-forward deployment/mcp-backend-green")
    assert_in_order(lines, "port-forward deployment/mcp-backend-green 18000:8000", '"version":"green"')
    assert 'pod=~"mcp-backend-green-.*"' in lines[index(lines, "prometheus traffic")]
    # Nothing of the live colour was applied.
    for name in ("settings.yaml", "workloads.yaml"):
        docs = list(yaml.safe_load_all((tmp_path / "work" / name).read_text()))
        assert not [d["metadata"]["name"] for d in docs if "blue" in d["metadata"]["name"]], name
    never(lines, "rollout undo")


def test_blue_green_failure_before_the_switch_leaves_users_on_the_live_colour(calls: Path, tmp_path: Path, prometheus):
    code, log, lines = deploy("production", calls, tmp_path, prometheus, FAKE_SMOKE_FAIL="127.0.0.1")

    assert code == 1, log
    assert "users stay on blue" in log
    never(lines, "patch service")
    never(lines, "set image")


def test_blue_green_breach_after_the_switch_switches_back_and_rolls_the_frontend_back(
    calls: Path, tmp_path: Path, prometheus: Prometheus
):
    prometheus.values["errors"] = "0.5"

    code, log, lines = deploy("production", calls, tmp_path, prometheus)

    assert code == 1, log
    assert_in_order(
        lines,
        '"version":"green"',
        "set image deployment/mcp-frontend",
        "prometheus errors",
        '"version":"blue"',
        "rollout undo deployment/mcp-frontend --to-revision=7",
    )


def test_a_quiet_staging_without_traffic_passes(calls: Path, tmp_path: Path, prometheus: Prometheus):
    prometheus.values["traffic"] = None  # no series at all: only the smoke tests came by

    code, log, _ = deploy("staging", calls, tmp_path, prometheus)

    assert code == 0, log


def test_a_new_production_colour_without_traffic_is_switched_back(calls: Path, tmp_path: Path, prometheus):
    prometheus.values["traffic"] = None

    code, log, lines = deploy("production", calls, tmp_path, prometheus)

    assert code == 1 and "the release gets no requests" in log
    assert_in_order(lines, '"version":"green"', "prometheus traffic", '"version":"blue"')


def test_blue_green_without_prometheus_is_refused_before_any_change(calls: Path, tmp_path: Path):
    code, log, lines = deploy("production", calls, tmp_path, None)

    assert code == 2 and "PROMETHEUS_URL is required" in log
    assert lines == []


def test_first_deploy_creates_the_smoke_token_and_takes_green(calls: Path, tmp_path: Path, prometheus: Prometheus):
    code, log, lines = deploy("production", calls, tmp_path, prometheus, FAKE_FIRST="true", FAKE_NO_SECRET="true")

    assert code == 0, log
    assert_in_order(
        lines,
        "create secret generic mcp-rag-smoke-token --from-file=token=/dev/stdin",
        "create -f",  # the Job registers the token before any backend pod starts
        "workloads.yaml",
        '"version":"green"',
    )
    (job,) = yaml.safe_load_all((tmp_path / "work" / "job.yaml").read_text())
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MCP_RAG_BOOTSTRAP_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "mcp-rag-smoke-token"
