"""Settings: environment (MCP_RAG_*, DATABASE_URL, provider keys), .env, and
one YAML file per environment (config/<env>.yaml) with ${VAR} interpolation.

Precedence, highest first: explicit overrides (CLI flags), environment, .env,
the YAML file, defaults. A bad value raises ConfigError with one line that
names the setting; the CLI prints it and exits 2.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from mcp_rag.errors import ConfigError

# ${VAR}, ${VAR:-default}; ${VAR|url} percent-quotes the value for a URL's user or password.
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(\|url)?(?::-([^}]*))?\}")


def _interpolate(value: Any, where: str) -> Any:
    """Replace ${VAR}, ${VAR:-default} and ${VAR|url} in every string of a YAML tree."""
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, where) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, url, default = match.group(1), match.group(2), match.group(3)
        if name in os.environ:
            return quote(os.environ[name], safe="") if url else os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _VAR.sub(replace, value)


def config_file_for(env: str) -> Path | None:
    """config/<env>.yaml from MCP_RAG_CONFIG_DIR (default ./config), if it exists."""
    explicit = os.environ.get("MCP_RAG_CONFIG_FILE")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"MCP_RAG_CONFIG_FILE: {path} does not exist")
        return path
    path = Path(os.environ.get("MCP_RAG_CONFIG_DIR", "config")) / f"{env}.yaml"
    return path if path.is_file() else None


class _YamlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls)
        env = os.environ.get("MCP_RAG_ENV", "dev")
        path = config_file_for(env)
        self.values: dict[str, Any] = {}
        if path is not None:
            import yaml  # only with a config file: keeps `mcp-rag mcp` start-up fast without one

            try:
                raw = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
            if not isinstance(raw, dict):
                raise ConfigError(f"{path}: expected a mapping of settings")
            self.values = {k: v for k, v in _interpolate(raw, path.name).items() if v not in ("", None)}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MCP_RAG_", env_file=".env", extra="ignore", populate_by_name=True)

    env: Literal["dev", "staging", "production", "test"] = "dev"
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("mcp-rag")))
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("MCP_RAG_DATABASE_URL", "DATABASE_URL", "database_url")
    )
    database_read_url: str | None = Field(
        None,
        validation_alias=AliasChoices("MCP_RAG_DATABASE_READ_URL", "DATABASE_READ_URL", "database_read_url"),
    )
    # Connections kept open per process. Overflow connections (twice as many) are closed when
    # returned, so a pool smaller than the concurrent searches opens PostgreSQL backends over and over.
    db_pool_size: int = Field(16, ge=1, le=200)
    db_pool_idle_seconds: float = Field(
        60,
        ge=0,
        description="Pooled connections (PostgreSQL backends) unused this long are closed, down to one; 0 keeps them",
    )
    embedded_shared_buffers: str = Field(
        "auto",
        pattern=r"^(auto|[1-9][0-9]*(kB|MB|GB))$",
        description="shared_buffers of the embedded PostgreSQL (e.g. 256MB, 2GB), applied from its next start; "
        "auto: the size of the data, 32MB to 256MB (256MB with MCP_RAG_MEMORY_PROFILE=speed)",
    )
    memory_profile: Literal["lean", "speed"] = Field(
        "lean",
        description="lean: ONNX Runtime without arenas, PostgreSQL memory sized to the corpus; "
        "speed: arenas kept, fixed PostgreSQL memory (docs/PERFORMANCE.md, memory)",
    )
    auto_migrate: bool = True
    db_wait_seconds: float = Field(
        120, ge=0, description="How long `serve` waits, with back-off, for the database and its schema at start"
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    insecure: bool = Field(False, description="Serve without API tokens on a non-loopback address")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed to call the API")
    max_body_bytes: int = Field(20_000_000, ge=1024)
    max_upload_bytes: int = Field(1_000_000_000, ge=1024)
    rate_limit_per_minute: int = Field(1200, ge=0, description="Per token (or client address); 0 disables")
    auth_failures_per_minute: int = Field(
        10, ge=0, description="Failed authentications per client address a minute before 429; 0 disables"
    )
    # Host names (name: any port; name:port; * any) answered besides loopback and the bound address.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Origins (scheme://host[:port]) whose pages may change data, besides the server's own.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    otel_endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("MCP_RAG_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "otel_endpoint"),
        description="OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces; unset = tracing off",
    )

    embedding_provider: Literal["onnx", "openai"] = "onnx"
    embedding_model: str = "all-MiniLM-L6-v2"
    embedding_batch_size: int = Field(32, ge=1, le=1024)
    embedding_threads: int = Field(
        0, ge=0, le=64, description="Intra-op threads of the model embedding chunks; 0 = all cores"
    )
    # A search query is a few dozen tokens: a second intra-op thread barely shortens it and
    # burns CPU that concurrent searches and PostgreSQL need.
    query_embedding_threads: int = Field(
        1, ge=0, le=64, description="Intra-op threads of the model embedding search queries; 0 = all cores"
    )
    doc_model_keep_alive: float = Field(
        300,
        ge=-1,
        description="Seconds the document model (float32, ~50-75 MiB, loaded by ingests and answers) stays loaded "
        "after its last use; then it is released and loaded again (~1 s) when next needed. 0: released after "
        "each use; -1: kept for good",
    )
    model_cache_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("mcp-rag")),
        description="Where the offline model's query and document forms are built once from the bundled one and kept",
    )
    query_model_calls: int = Field(
        2,
        ge=0,
        le=64,
        description="Search-query embeddings run at once; more queue and are embedded together; 0 = no limit",
    )

    chunk_max_words: int = Field(120, ge=10, le=2000)
    # One turn per chunk (docs/design/chunking.md): small hits spend a reader's word budget well.
    chunk_max_messages: int = Field(1, ge=1, le=100)
    chunk_context: int = Field(0, ge=0, le=20, description="Neighbouring turns indexed with each chunk, per side")
    bm25_candidates: int = Field(
        1000,
        ge=0,
        description="Chunks the BM25 arm scores before it keeps to the query's rarest terms "
        "(all of them together when even the rarest alone is past it); 0 = always all",
    )
    # +0.018 budgeted recall at 400 words on REALTALK (docs/RETRIEVAL.md). Conversations stored
    # while it was off get their windows from `mcp-rag reindex --windows`; until then only the vector
    # arm's hits rank their windows.
    window_arm: bool = Field(
        True,
        description="Index overlapping windows of turns and let their hits vote for their turns "
        "(mcp_rag/search/windows.py); off: neither written nor searched",
    )

    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("MCP_RAG_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = None
    anthropic_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("MCP_RAG_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY")
    )

    # Answers (RAG). auto: openai with OPENAI_API_KEY, else anthropic with ANTHROPIC_API_KEY, else extractive.
    answer_provider: Literal["auto", "extractive", "openai", "anthropic", "openai-compatible"] = "auto"
    answer_model: str | None = Field(None, max_length=200, description="Default per provider; required for compatible")
    answer_base_url: str | None = Field(None, description="Endpoint override, e.g. http://localhost:11434/v1 (Ollama)")
    answer_timeout_s: float = Field(60.0, gt=0, le=600)
    answer_max_retries: int = Field(2, ge=0, le=10)
    answer_context_tokens: int = Field(3000, ge=200, le=200_000)

    # Importing. The MCP tool imports only below these folders (none: it refuses); env: paths joined by ',' or ':'.
    import_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("MCP_RAG_SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (for `sync slack`)")
    # Bounds on what a zip may expand to, checked on its directory before anything is unpacked
    # (docs/RELIABILITY.md): generous for real multi-GB exports, far below what a zip bomb claims.
    import_max_member_bytes: int = Field(
        4 * 1024**3, ge=1024, description="Largest expanded size of one file inside a zip"
    )
    import_max_archive_bytes: int = Field(
        32 * 1024**3, ge=1024, description="Largest expanded size of a whole zip (zips inside it included)"
    )
    import_max_ratio: int = Field(
        100, ge=2, description="Largest expanded-to-compressed size ratio of a zip and of its files over 1 MiB"
    )

    # MCP: one tool call stays under a client's timeout (often 60 s); longer work resumes on the next call.
    mcp_call_seconds: float = Field(40.0, gt=0, le=600)
    mcp_part_messages: int = Field(100, ge=1, le=10_000, description="Messages stored per transaction over MCP")

    @field_validator("import_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        return [p for p in re.split(r"[,:]", value) if p.strip()] if isinstance(value, str) else value

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        return [p for p in re.split(r"[,\s]+", value) if p] if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings, _YamlSource(settings_cls))

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning any validation problem into one ConfigError line."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        env_name = f"MCP_RAG_{field.upper()}" if field.isidentifier() else field
        raise ConfigError(f"invalid setting {env_name}: {err['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
