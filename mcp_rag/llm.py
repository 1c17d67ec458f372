"""Language-model providers for answers: OpenAI, Anthropic, any OpenAI-compatible endpoint.

Each provider turns (system prompt, user prompt) into text, whole or streamed,
through the official SDK. Retries with exponential backoff on 408/409/429/5xx
and connection errors are the SDKs' own (`max_retries`, honouring
`Retry-After`); we only set how many and how long to wait. Every SDK failure
leaves here as `Unavailable` with a sentence a user can act on, so callers can
fall back and still return the retrieved sources.

The SDKs are imported on first use: the MCP handshake and `--help` stay fast.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from mcp_rag import metrics
from mcp_rag.config import Settings
from mcp_rag.errors import ConfigError, Unavailable

DEFAULT_MODELS = {"openai": "gpt-4.1-mini", "anthropic": "claude-haiku-4-5"}
OLLAMA_URL = "http://localhost:11434/v1"
MAX_OUTPUT_TOKENS = 1024
KEY_SETTING = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "openai-compatible": "OPENAI_API_KEY"}


class Provider(Protocol):
    name: str
    model: str

    def complete(
        self, system: str, user: str, max_tokens: int = MAX_OUTPUT_TOKENS, retries: int | None = None
    ) -> str: ...

    def stream(self, system: str, user: str) -> Iterator[str]: ...


def provider_name(settings: Settings) -> str:
    """The provider the settings choose; `auto` follows the keys that are set."""
    if settings.answer_provider != "auto":
        return settings.answer_provider
    if settings.openai_api_key:
        return "openai"
    if settings.anthropic_api_key:
        return "anthropic"
    return "extractive"


def make_provider(settings: Settings) -> Provider | None:
    """The configured provider, or None for the offline extractive answerer."""
    name = provider_name(settings)
    if name == "extractive":
        return None
    common = {"timeout": settings.answer_timeout_s, "max_retries": settings.answer_max_retries}
    if name == "anthropic":
        key = settings.anthropic_api_key
        if key is None:
            raise ConfigError("answer provider anthropic needs ANTHROPIC_API_KEY")
        import anthropic

        client = anthropic.Anthropic(api_key=key.get_secret_value(), base_url=settings.answer_base_url, **common)
        return AnthropicProvider(client, settings.answer_model or DEFAULT_MODELS["anthropic"])

    import openai

    if name == "openai":
        if settings.openai_api_key is None:
            raise ConfigError("answer provider openai needs OPENAI_API_KEY")
        base_url = settings.answer_base_url or settings.openai_base_url
        model = settings.answer_model or DEFAULT_MODELS["openai"]
    else:
        base_url = settings.answer_base_url or OLLAMA_URL
        if not settings.answer_model:
            raise ConfigError("answer provider openai-compatible needs MCP_RAG_ANSWER_MODEL (e.g. llama3.1)")
        model = settings.answer_model
    # Local servers (Ollama, llama.cpp) ignore the key, but the SDK insists on one.
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    client = openai.OpenAI(api_key=key, base_url=base_url, **common)
    return ChatCompletionsProvider(name, client, model)


@dataclass
class ChatCompletionsProvider:
    """OpenAI's chat completions wire format, spoken by OpenAI, Ollama, vLLM and llama.cpp."""

    name: str
    client: Any
    model: str

    def _request(self, system: str, user: str, max_tokens: int = MAX_OUTPUT_TOKENS) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        }
        if self.name == "openai":
            # OpenAI's reasoning models refuse `max_tokens` and any temperature but the default.
            request["max_completion_tokens"] = max_tokens
        else:
            # Local servers (Ollama, llama.cpp, older vLLM) know only the classic fields.
            request.update(max_tokens=max_tokens, temperature=0)
        return request

    def complete(self, system: str, user: str, max_tokens: int = MAX_OUTPUT_TOKENS, retries: int | None = None) -> str:
        client = self.client if retries is None else self.client.with_options(max_retries=retries)
        with _translated(self.name, client):
            response = client.chat.completions.create(**self._request(system, user, max_tokens))
            _count_tokens(self.name, getattr(response, "usage", None))
            return response.choices[0].message.content or ""

    def stream(self, system: str, user: str) -> Iterator[str]:
        with _translated(self.name, self.client):
            for chunk in self.client.chat.completions.create(**self._request(system, user), stream=True):
                _count_tokens(self.name, getattr(chunk, "usage", None))  # sent by servers that report it
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content


@dataclass
class AnthropicProvider:
    """Anthropic's messages API: the system prompt is a top-level field, not a message."""

    client: Any
    model: str
    name: str = "anthropic"

    def _request(self, system: str, user: str, max_tokens: int = MAX_OUTPUT_TOKENS) -> dict[str, Any]:
        return {
            "model": self.model,
            "system": system,
            "messages": [{"role": "user", "content": user}],
            "max_tokens": max_tokens,
        }

    def complete(self, system: str, user: str, max_tokens: int = MAX_OUTPUT_TOKENS, retries: int | None = None) -> str:
        client = self.client if retries is None else self.client.with_options(max_retries=retries)
        with _translated(self.name, client):
            response = client.messages.create(**self._request(system, user, max_tokens))
            _count_tokens(self.name, getattr(response, "usage", None))
            return "".join(block.text for block in response.content if block.type == "text")

    def stream(self, system: str, user: str) -> Iterator[str]:
        with _translated(self.name, self.client), self.client.messages.stream(**self._request(system, user)) as s:
            yield from s.text_stream
            _count_tokens(self.name, getattr(s.get_final_message(), "usage", None))


class _translated:
    """Turn any SDK exception into `Unavailable` with a message that says what to fix;
    and observe the call (latency, outcome, a span) while it runs."""

    def __init__(self, name: str, client: Any):
        self.name, self.client = name, client

    def __enter__(self) -> None:
        from mcp_rag.tracing import tracer

        self.started = time.perf_counter()
        self.span = tracer.start_span("llm", attributes={"llm.provider": self.name})
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        failed = exc is not None and not isinstance(exc, GeneratorExit)
        metrics.llm_latency.labels(self.name).observe(time.perf_counter() - self.started)
        metrics.llm_requests.labels(self.name, "error" if failed else "ok").inc()
        self.span.end()
        if not failed:
            return False
        raise Unavailable(explain(self.name, self.client, exc)) from exc


def _count_tokens(name: str, usage: Any) -> None:
    """Token usage as the provider reports it (OpenAI: prompt/completion, Anthropic: input/output)."""
    if usage is None:
        return
    prompt = getattr(usage, "prompt_tokens", None) or getattr(usage, "input_tokens", None) or 0
    completion = getattr(usage, "completion_tokens", None) or getattr(usage, "output_tokens", None) or 0
    metrics.llm_tokens.labels(name, "prompt").inc(prompt)
    metrics.llm_tokens.labels(name, "completion").inc(completion)


def explain(name: str, client: Any, exc: BaseException) -> str:
    """One line naming the provider, what went wrong and what to check."""
    where = str(getattr(client, "base_url", "")).rstrip("/")
    status = getattr(exc, "status_code", None)
    kind = type(exc).__name__
    if status in (401, 403):
        return f"{name} rejected the API key (HTTP {status}); check {KEY_SETTING[name]}"
    if status == 404:
        return f"{name} at {where} does not know the model or path (HTTP 404); check MCP_RAG_ANSWER_MODEL"
    if status == 429:
        return f"{name} is rate-limiting requests (HTTP 429) after {client.max_retries} retries"
    if status is not None and status >= 500:
        return f"{name} failed (HTTP {status}) after {client.max_retries} retries"
    if status is not None:
        return f"{name} refused the request (HTTP {status}): {_short(exc)}"
    if "Timeout" in kind:
        return f"{name} did not answer within {client.timeout}s (MCP_RAG_ANSWER_TIMEOUT_S)"
    if "Connection" in kind:
        return f"{name} is unreachable at {where}"
    return f"{name} failed: {kind}: {_short(exc)}"


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__
