"""Shared fixtures: one real embedded PostgreSQL + pgvector for the session,
the real ONNX embedder, and a clean database for every test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

os.environ.setdefault("MCP_RAG_ENV", "test")  # no config/<env>.yaml: tests set what they need

from mcp_rag.api.app import create_app  # noqa: E402
from mcp_rag.config import Settings, load_settings  # noqa: E402
from mcp_rag.service import Service  # noqa: E402


@pytest.fixture(scope="session")
def data_dir() -> Path:
    # Not under pytest's tmp_path: pytest resets /tmp/pytest-of-<user> to 0700 at
    # every session start, which locks out the embedded server (it runs as its own
    # user) if another session is still running. Removed after the server stops.
    path = Path(tempfile.mkdtemp(prefix="mcp-rag-test-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)  # runs after the server's own exit hook
    return path


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    # Answers stay offline whatever keys the machine has; provider tests opt in explicitly.
    # "testserver" is the Host that Starlette's TestClient sends.
    return load_settings(data_dir=data_dir, env="test", answer_provider="extractive", allowed_hosts=["testserver"])


@pytest.fixture(scope="session")
def session_service(settings: Settings) -> Iterator[Service]:
    service = Service(settings)
    service.ready()
    yield service
    service.close()


@pytest.fixture
def service(session_service: Service) -> Service:
    with session_service.engine.begin() as conn:
        conn.execute(text("TRUNCATE conversations, namespaces CASCADE"))
        conn.execute(text("INSERT INTO namespaces (name) VALUES ('default')"))
    return session_service


@pytest.fixture
def client(service: Service, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, service)) as c:
        yield c


@pytest.fixture
def scratch_url(service):
    """A second database on the same embedded server, for destructive schema tests."""
    with service.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP DATABASE IF EXISTS mcp_rag_scratch"))
        conn.execute(text("CREATE DATABASE mcp_rag_scratch"))
    url = service.engine.url.set(database="mcp_rag_scratch").render_as_string(hide_password=False)
    yield url
    with service.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DROP DATABASE IF EXISTS mcp_rag_scratch WITH (FORCE)"))
