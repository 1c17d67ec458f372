"""Shared fixtures: one real embedded PostgreSQL + pgvector for the session,
the real ONNX embedder, and a clean database for every test."""

from __future__ import annotations

import os
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
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp-rag-data")


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return load_settings(data_dir=data_dir, env="test")


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
