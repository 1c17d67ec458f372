"""What the service reports about itself: database status, version, readiness,
and warming the query model up before the first search."""

from __future__ import annotations

import logging
import os
import time
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy.engine import Connection, Engine

from mcp_rag.config import Settings
from mcp_rag.embed import Embedder
from mcp_rag.store import conversations as conv_sql
from mcp_rag.store import db, schema_state, vector_index

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """What reporting needs of the service (which provides it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def query_embedder(self) -> Embedder: ...

    def transaction(self, read_only: bool = False) -> AbstractContextManager[Connection]: ...

    def connection(self) -> AbstractContextManager[Connection]: ...


def status(service: Reporter) -> dict[str, Any]:
    """Database revision, counts and model: what `db status` and /version show."""
    with service.transaction() as conn:
        counts = conv_sql.counts(conn)
        model = vector_index.registered_model(conn)
    return {
        "database": "embedded" if not service.settings.database_url else "external",
        "schema_revision": db.current_revision(service.engine),
        "schema_head": db.head_revision(),
        "embedding_model": service.embedder.name,
        "indexed_model": model[0] if model else None,
        **counts,
    }


def version_info(service: Reporter) -> dict[str, Any]:
    """What /version reports besides the package version; never fails on a down database."""
    settings = service.settings
    try:
        revision = db.current_revision(service.engine)
    except Exception:
        revision = None
    from mcp_rag import llm  # imported here: the answerers are not on the start-up path

    provider = llm.provider_name(settings)
    return {
        "git_commit": _git_commit(),
        "schema_revision": revision,
        # Which answerer `ask` uses (the UI shows it before the first question); never a key.
        "answer_provider": provider,
        "answer_model": None
        if provider == "extractive"
        else (settings.answer_model or llm.DEFAULT_MODELS.get(provider)),
        "embedding_model": settings.embedding_model
        if settings.embedding_provider == "onnx"
        else f"openai/{settings.embedding_model}",
    }


def warm_up(service: Reporter) -> None:
    """Load the query model before the first search asks for it (`serve` runs this
    on a thread at start): that search would otherwise wait for it, and on a
    first run for its int8 form to be built (a few seconds). A failure is
    logged; the first search then tries again and reports it."""
    started = time.perf_counter()
    try:
        load = getattr(service.query_embedder, "ensure_loaded", None)  # offline models only
        if load is not None:
            load()
            log.info("query model ready in %.1f s", time.perf_counter() - started)
    except Exception as exc:
        log.warning("could not load the query model ahead of the first search: %s", exc)


def ready(service: Reporter) -> None:
    """Raise Unavailable unless the database answers with a schema this release can serve."""
    with service.connection() as conn:
        db.ping(conn)
    schema_state.require_compatible(service.engine)


def _git_commit() -> str | None:
    """Set by the image build (MCP_RAG_GIT_COMMIT); else read from a source checkout."""
    import subprocess  # imported here: only /version needs it, not start-up

    if os.environ.get("MCP_RAG_GIT_COMMIT"):
        return os.environ["MCP_RAG_GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            cwd=os.path.dirname(__file__),
        )
        return out.stdout.strip() or None
    except Exception:
        return None
