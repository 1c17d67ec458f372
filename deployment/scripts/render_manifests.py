#!/usr/bin/env python3
"""Render a kustomize overlay for one release: `kubectl kustomize` plus the image tags.

    render_manifests.py deployment/kubernetes/overlays/dev \\
        --backend-image ghcr.io/acme/mcp-rag-backend:main-1a2b3c4 \\
        --frontend-image ghcr.io/acme/mcp-rag-frontend:main-1a2b3c4 > release.yaml

For the blue-green production overlay, --live names the colour that serves
traffic now and --live-backend-image the image it runs: the new backend image
goes to the other (idle) colour only, and the Service keeps selecting the live
colour, so that `kubectl apply` of the result changes nothing users see. The
switch happens later, with blue-green-switch.sh, after the idle colour has been
migrated and smoke-tested.

Why not `kustomize edit set image`: it cannot give the two colours different
images, and it needs a standalone kustomize binary besides kubectl's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

import yaml

COLOURS = ("blue", "green")


def render(
    overlay: str,
    backend_image: str,
    frontend_image: str,
    live: str | None = None,
    live_backend_image: str | None = None,
) -> list[dict[str, Any]]:
    out = subprocess.run(["kubectl", "kustomize", overlay], check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    blue_green = all(f"mcp-backend-{c}" in deployments for c in COLOURS)

    if blue_green:
        if live not in COLOURS or not live_backend_image:
            raise SystemExit("error: a blue-green overlay needs --live blue|green and --live-backend-image")
        idle = "green" if live == "blue" else "blue"
        _set_image(deployments[f"mcp-backend-{idle}"], "backend", backend_image)
        _set_image(deployments[f"mcp-backend-{live}"], "backend", live_backend_image)
        for doc in docs:
            if doc["kind"] == "Service" and doc["metadata"]["name"] == "mcp-backend":
                doc["spec"]["selector"]["version"] = live
    else:
        if live is not None:
            raise SystemExit(f"error: {overlay} is not a blue-green overlay; drop --live")
        _set_image(deployments["mcp-backend"], "backend", backend_image)
    _set_image(deployments["mcp-frontend"], "frontend", frontend_image)
    return docs


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
    parser.add_argument("--live-backend-image", help="blue-green only: the image the live colour runs")
    args = parser.parse_args(argv)
    docs = render(args.overlay, args.backend_image, args.frontend_image, args.live, args.live_backend_image)
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
