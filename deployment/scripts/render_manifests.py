#!/usr/bin/env python3
"""Render a kustomize overlay for one release: `kubectl kustomize` plus the images.

    render_manifests.py deployment/kubernetes/overlays/dev \\
        --backend-image ghcr.io/acme/mcp-rag-backend@sha256:... \\
        --frontend-image ghcr.io/acme/mcp-rag-frontend@sha256:... > release.yaml

For the blue-green production overlay, --live names the colour that serves
traffic now. The new backend image goes to the other (idle) colour, and the
live colour's objects (its Deployment, HPA, PDB and ConfigMap) are left out of
the output altogether: `kubectl apply` of the result cannot change anything the
live colour runs, whatever changed in the manifests. The Service keeps
selecting the live colour; blue-green-switch.sh moves it later, after the idle
colour has been migrated and smoke-tested.

--migration-job NAME prints, instead of the release, the Job that migrates the
database from the new backend image (run-migrations.sh, then the smoke-test
token's registration), with the same settings, Secrets and security context as
the backend pods, and the backups volume mounted at /backups.

Why not `kustomize edit set image`: it cannot give the two colours different
images, and it needs a standalone kustomize binary besides kubectl's.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from typing import Any

import yaml

COLOURS = ("blue", "green")
SMOKE_TOKEN_SECRET = "mcp-rag-smoke-token"
BACKUPS_CLAIM = "mcp-rag-backups"
MIGRATE_COMMAND = "deployment/scripts/migrations/run-migrations.sh && exec python -m mcp_rag.bootstrap"
# Only the serving process needs these.
SERVE_ONLY_ENV = {"MCP_RAG_HOST", "MCP_RAG_PORT", "MCP_RAG_DB_WAIT_SECONDS"}


def render(overlay: str, backend_image: str, frontend_image: str, live: str | None = None) -> list[dict[str, Any]]:
    out = subprocess.run(["kubectl", "kustomize", overlay], check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    blue_green = all(f"mcp-backend-{c}" in deployments for c in COLOURS)

    if blue_green:
        if live not in COLOURS:
            raise SystemExit("error: a blue-green overlay needs --live blue|green (the colour serving traffic)")
        idle = "green" if live == "blue" else "blue"
        _set_image(deployments[f"mcp-backend-{idle}"], "backend", backend_image)
        docs = [d for d in docs if (d["metadata"].get("labels") or {}).get("version") != live]
        for doc in docs:
            if doc["kind"] == "Service" and doc["metadata"]["name"] == "mcp-backend":
                doc["spec"]["selector"]["version"] = live
    else:
        if live is not None:
            raise SystemExit(f"error: {overlay} is not a blue-green overlay; drop --live")
        _set_image(deployments["mcp-backend"], "backend", backend_image)
    _set_image(deployments["mcp-frontend"], "frontend", frontend_image)
    return docs


def backend_deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The backend Deployment of a rendered release (the idle colour's in blue-green)."""
    (deployment,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].startswith("mcp-backend")]
    return deployment


def migration_job(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    pod = deployment["spec"]["template"]["spec"]
    (backend,) = [c for c in pod["containers"] if c["name"] == "backend"]
    env = [e for e in backend.get("env", []) if e["name"] not in SERVE_ONLY_ENV]
    env += [
        {"name": "BACKUP_DIR", "value": "/backups"},
        {"name": "BACKUP_KEEP", "value": "14"},
        {"name": "MIGRATION_TIMEOUT", "value": "900"},
        {"name": "TMPDIR", "value": "/tmp"},
        {
            "name": "MCP_RAG_BOOTSTRAP_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": SMOKE_TOKEN_SECRET, "key": "token", "optional": True}},
        },
    ]
    labels = {
        "app.kubernetes.io/name": "mcp-migrate",
        "app.kubernetes.io/component": "migration",
        "app.kubernetes.io/part-of": "mcp-rag",
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": deployment["metadata"].get("namespace"), "labels": labels},
        "spec": {
            "backoffLimit": 0,  # a failed migration is looked at, never retried blindly
            "activeDeadlineSeconds": 1800,
            "ttlSecondsAfterFinished": 604800,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": pod.get("serviceAccountName"),
                    "automountServiceAccountToken": False,
                    "securityContext": copy.deepcopy(pod.get("securityContext", {})),
                    "containers": [
                        {
                            "name": "migrate",
                            "image": backend["image"],
                            "imagePullPolicy": backend.get("imagePullPolicy", "IfNotPresent"),
                            "workingDir": "/app",
                            "command": ["bash", "-c", MIGRATE_COMMAND],
                            "envFrom": copy.deepcopy(backend.get("envFrom", [])),
                            "env": copy.deepcopy(env),
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "256Mi"},
                                "limits": {"cpu": "1", "memory": "1Gi"},
                            },
                            "securityContext": copy.deepcopy(backend.get("securityContext", {})),
                            "volumeMounts": [
                                {"name": "tmp", "mountPath": "/tmp"},
                                {"name": "backups", "mountPath": "/backups"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "backups", "persistentVolumeClaim": {"claimName": BACKUPS_CLAIM}},
                    ],
                },
            },
        },
    }


def _set_image(deployment: dict[str, Any], container: str, image: str) -> None:
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        if c["name"] == container:
            c["image"] = image
            return
    raise SystemExit(f"error: no container {container!r} in deployment {deployment['metadata']['name']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overlay", help="e.g. deployment/kubernetes/overlays/production")
    parser.add_argument("--backend-image", required=True)
    parser.add_argument("--frontend-image", required=True)
    parser.add_argument("--live", choices=COLOURS, help="blue-green only: the colour serving traffic now")
    parser.add_argument("--migration-job", metavar="NAME", help="print the migration Job instead of the release")
    args = parser.parse_args(argv)
    docs = render(args.overlay, args.backend_image, args.frontend_image, args.live)
    if args.migration_job:
        docs = [migration_job(backend_deployment(docs), args.migration_job)]
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
