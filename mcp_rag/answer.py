"""Ask: rewrite a follow-up, retrieve, answer with citations — whole or streamed.

One flow for every door (REST, MCP, CLI, web UI):
1. a follow-up question is rewritten into a standalone one using the chat
   history (by the language model when one is configured, else by carrying
   the previous question's key words along);
2. hybrid search retrieves hits; their verbatim turns are numbered within the
   context token budget (`prompt.number_turns`);
3. the configured provider answers from those turns only, or the offline
   extractive answerer does when none is configured. When the provider fails
   (down, wrong key, rate-limited past the retries) the answer falls back to
   the extractive one with `error` set: the sources are never lost.
Citations are resolved against the numbered turns; any others are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mcp_rag import extractive, llm
from mcp_rag.errors import McpRagError, Unavailable
from mcp_rag.models import Answer, AskRequest, ChatTurn, Citation, Hit, SearchRequest
from mcp_rag.prompt import (
    NOT_FOUND,
    REWRITE_PROMPT,
    SYSTEM_PROMPT,
    SourceTurn,
    number_turns,
    resolve_citations,
    user_prompt,
)

if TYPE_CHECKING:
    from uuid import UUID

    from mcp_rag.chunking import Turn
    from mcp_rag.config import Settings
    from mcp_rag.embed import Embedder
    from mcp_rag.models import SearchResult


class Retrieval(Protocol):
    """What answering needs of the service (which provides it): settings, search, the turns behind hits."""

    @property
    def settings(self) -> Settings: ...

    @property
    def embedder(self) -> Embedder: ...

    def search(self, req: SearchRequest, namespace: str = ...) -> SearchResult: ...

    def turns_for(self, hits: list[Hit]) -> dict[tuple[UUID, str], Turn]: ...


HISTORY_TURNS = 6
_DEPENDENT = re.compile(
    r"\b(he|she|they|him|her|them|his|hers|their|it|its|that|this|those|these|there|then|same|else)\b"
    r"|^\s*(and|also|what about|how about|why|when|where)\b",
    re.IGNORECASE,
)


@dataclass
class Prepared:
    """Everything an answer needs once retrieval is done."""

    question: str
    asked: str  # the user's own wording, before any rewrite
    hits: list[Hit]
    sources: list[SourceTurn]
    provider: llm.Provider | None
    service: Retrieval
    error: str | None = None

    def extractive(self, error: str | None = None) -> Answer:
        text, citations = extractive.answer(self.question, self.sources, self.service.embedder.embed, self.asked)
        return self._answer(text, citations, None, error or self.error)

    def generated(self, text: str) -> Answer:
        text, citations = resolve_citations(text, self.sources)
        return self._answer(text or NOT_FOUND, citations, self.provider, None)

    def _answer(self, text: str, citations: list[Citation], provider: llm.Provider | None, error: str | None) -> Answer:
        return Answer(
            answer=text,
            citations=citations,
            extractive=provider is None,
            provider=provider.name if provider else "extractive",
            model=provider.model if provider else None,
            question=self.question,
            sources=self.hits,
            error=error,
        )


def prepare(service: Retrieval, req: AskRequest, namespace: str) -> Prepared:
    """Rewrite and retrieve. Raises (NotFound, Invalid, Unavailable) before any answering starts."""
    provider, error = None, None
    try:
        provider = llm.make_provider(service.settings)
    except McpRagError as exc:  # a provider named but not usable: answer offline, say why
        error = str(exc)
    question = standalone_question(req.question, req.history, provider)
    search = SearchRequest(query=question[:4000], top_k=req.top_k, **req.filters().model_dump())
    hits = service.search(search, namespace).hits
    sources = number_turns(hits, service.turns_for(hits), service.settings.answer_context_tokens)
    return Prepared(question, req.question, hits, sources, provider, service, error)


def ask(service: Retrieval, req: AskRequest, namespace: str) -> Answer:
    p = prepare(service, req, namespace)
    if p.provider is None or not p.sources:
        return p.extractive()
    try:
        text = p.provider.complete(SYSTEM_PROMPT, user_prompt(p.question, p.sources))
    except Unavailable as exc:
        return p.extractive(error=str(exc))
    return p.generated(text)


def stream(service: Retrieval, req: AskRequest, namespace: str) -> Iterator[tuple[str, Any]]:
    """Retrieve now (errors raise here), then yield events lazily:
    ("sources", {...}), ("token", {"text"}) ..., then ("done", Answer) or ("error", McpRagError)."""
    p = prepare(service, req, namespace)

    def events() -> Iterator[tuple[str, Any]]:
        yield "sources", {"sources": [h.model_dump(mode="json") for h in p.hits], "question": p.question}
        if p.provider is None or not p.sources:
            result = p.extractive()
            yield "token", {"text": result.answer}
            yield "done", result
            return
        parts: list[str] = []
        try:
            for delta in p.provider.stream(SYSTEM_PROMPT, user_prompt(p.question, p.sources)):
                parts.append(delta)
                yield "token", {"text": delta}
        except Unavailable as exc:
            if parts:  # half an answer is out: the client must know it is cut short
                yield "error", exc
                return
            result = p.extractive(error=str(exc))
            yield "token", {"text": result.answer}
            yield "done", result
            return
        yield "done", p.generated("".join(parts))

    return events()


def standalone_question(question: str, history: list[ChatTurn], provider: llm.Provider | None) -> str:
    """The question as it would be asked without the chat before it."""
    recent = history[-HISTORY_TURNS:]
    if not recent:
        return question
    if provider is not None:
        chat = "\n".join(f"{t.role}: {t.content[:2000]}" for t in recent)
        try:
            rewritten = provider.complete(REWRITE_PROMPT, f"Earlier chat:\n{chat}\n\nLast question: {question}")
            rewritten = rewritten.strip().strip('"').strip()
            if 0 < len(rewritten) <= 1000:
                return rewritten
        except Unavailable:
            pass  # the answer call will fail the same way and report it
    return _carry_context(question, recent)


def _carry_context(question: str, history: list[ChatTurn]) -> str:
    """Offline rewrite: a dependent follow-up ("and when was that?") carries the
    previous question's content words, which is what retrieval needs."""
    if not _DEPENDENT.search(question) and len(extractive.words(question)) > 3:
        return question
    previous = next((t.content for t in reversed(history) if t.role == "user"), None)
    if previous is None:
        return question
    keep = [w for w in re.findall(r"[\w'’-]+", previous) if w.lower() not in extractive.STOPWORDS][:12]
    return f"{question} ({' '.join(keep)})" if keep else question
