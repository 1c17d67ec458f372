"""Settings: env, YAML with ${VAR} interpolation, clear one-line errors."""

from __future__ import annotations

import pytest

from mcp_rag.config import load_settings
from mcp_rag.errors import ConfigError


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MCP_RAG_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("MCP_RAG_ENV", "staging")
    return tmp_path


def test_yaml_values_are_interpolated_from_the_environment(config_dir, monkeypatch):
    (config_dir / "staging.yaml").write_text(
        "log_level: WARNING\ndatabase_url: postgresql://${DB_USER}:pw@${DB_HOST:-db}/x\nport: 9000\n"
    )
    monkeypatch.setenv("DB_USER", "alice")
    s = load_settings()
    assert s.database_url == "postgresql://alice:pw@db/x"
    assert s.log_level == "WARNING" and s.port == 9000


def test_environment_beats_yaml_and_overrides_beat_both(config_dir, monkeypatch):
    (config_dir / "staging.yaml").write_text("port: 9000\n")
    monkeypatch.setenv("MCP_RAG_PORT", "9100")
    assert load_settings().port == 9100
    assert load_settings(port=9200).port == 9200


def test_missing_variable_names_the_file_and_variable(config_dir):
    (config_dir / "staging.yaml").write_text("database_url: postgresql://${NOT_SET_ANYWHERE}@h/x\n")
    with pytest.raises(ConfigError, match="staging.yaml.database_url: environment variable NOT_SET_ANYWHERE"):
        load_settings()


def test_invalid_value_names_the_setting(config_dir, monkeypatch):
    monkeypatch.setenv("MCP_RAG_PORT", "70000")
    with pytest.raises(ConfigError, match="invalid setting MCP_RAG_PORT"):
        load_settings()


def test_invalid_yaml_is_a_config_error(config_dir):
    (config_dir / "staging.yaml").write_text("port: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings()


def test_shipped_config_files_load(monkeypatch):
    monkeypatch.setenv("MCP_RAG_CONFIG_DIR", "config")
    for env in ("dev", "staging", "production"):
        monkeypatch.setenv("MCP_RAG_ENV", env)
        for var, value in {"DB_USER": "u", "DB_PASSWORD": "p", "DB_HOST": "h"}.items():
            monkeypatch.setenv(var, value)
        s = load_settings()
        assert s.env == env
        if env != "dev":
            assert s.database_url == "postgresql://u:p@h:5432/mcp_rag" and not s.auto_migrate


def test_bad_database_url_is_a_config_error():
    from mcp_rag.store.db import database_url

    with pytest.raises(ConfigError, match="DATABASE_URL"):
        database_url(load_settings(database_url="mysql://x/y"))


@pytest.mark.parametrize("env", ["staging", "production"])
def test_shipped_configs_quote_credentials_that_would_break_the_url(monkeypatch, env):
    from sqlalchemy.engine import make_url

    monkeypatch.setenv("MCP_RAG_CONFIG_DIR", "config")
    monkeypatch.setenv("MCP_RAG_ENV", env)
    for var, value in {"DB_USER": "app@corp", "DB_PASSWORD": "p@ss:w/rd#?%", "DB_HOST": "db.internal"}.items():
        monkeypatch.setenv(var, value)
    url = make_url(load_settings().database_url)
    got = (url.username, url.password, url.host, url.database)
    assert got == ("app@corp", "p@ss:w/rd#?%", "db.internal", "mcp_rag")
