"""Ask: rewrite a follow-up, retrieve, answer with citations — whole or streamed.

One flow for every door (REST, MCP, CLI, web UI):
1. a follow-up question is rewritten into a standalone one using the chat
   history (by the language model when one is configured, with a small token
   cap and no retries, else by carrying the previous question's key words
   along);
2. hybrid search retrieves hits; their verbatim turns are numbered within the
   context token budget (`prompt.number_turns`);
3. when no hit is a strong match (search/relevance.py) the answer is
   "not found" with `found: false`, whatever the provider: weak hits are the
   nearest turns, not support;
4. otherwise the configured provider answers from those turns only, and its
   reply of the not-found sentence becomes `found: false`; or the offline
   extractive answerer does, which abstains when its best sentence's support
   is below MIN_SUPPORT. When the provider fails (down, wrong key,
   rate-limited past the retries) the answer falls back to the extractive one
   with `error` set: the sources are never lost.
Citations are resolved against the numbered turns; any others are dropped,
from streamed tokens too (`CitationFilter`).

A stream opens before any model call: its first event carries the sources
found with the offline rewrite, so a client sees progress (and the server's
keep-alives) while a model rewrites a follow-up; when that rewrite retrieves
different hits, a second `sources` event replaces the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_rag import extractive, llm
from mcp_rag.errors import McpRagError, Unavailable
from mcp_rag.models import Answer, AskRequest, ChatTurn, Hit, SearchRequest
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
    from mcp_rag.service import Service

HISTORY_TURNS = 6
REWRITE_MAX_TOKENS = 96  # a standalone question; a longer reply is not one
REWRITE_MAX_CHARS = 1000
# The extractive answer's support (extractive.Extracted.score) below which it abstains:
# calibrated on the tune half of REALTALK (benchmarks/eval_answers.py).
MIN_SUPPORT = 0.0
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
    service: Service
    error: str | None = None

    @property
    def supported(self) -> bool:
        """Whether any hit is a strong match: without one there is nothing to answer from."""
        return bool(self.sources) and any(h.match == "strong" for h in self.hits)

    def extractive(self, error: str | None = None) -> Answer:
        if not self.supported:
            return self.not_found(None, error or self.error)
        found = extractive.answer(self.question, self.sources, self.service.embedder.embed, self.asked)
        if found.score < MIN_SUPPORT:
            return self.not_found(None, error or self.error)
        return self._answer(found.text, True, found.citations, None, error or self.error)

    def generated(self, text: str) -> Answer:
        text, citations = resolve_citations(text, self.sources)
        if not text or says_not_found(text):
            return self.not_found(self.provider, None)
        return self._answer(text, True, citations, self.provider, None)

    def not_found(self, provider: llm.Provider | None, error: str | None) -> Answer:
        return self._answer(NOT_FOUND, False, [], provider, error)

    def _answer(self, text: str, found: bool, citations, provider: llm.Provider | None, error: str | None) -> Answer:
        return Answer(
            answer=text,
            found=found,
            citations=citations,
            extractive=provider is None,
            provider=provider.name if provider else "extractive",
            model=provider.model if provider else None,
            question=self.question,
            sources=self.hits,
            error=error,
        )


def says_not_found(text: str) -> bool:
    """A model's reply that is the not-found sentence (give or take case, quotes and punctuation)."""
    core = NOT_FOUND.rstrip(".").lower()
    return text.strip().strip("\"'“”*_ ").lower().startswith(core)


def make_provider(service: Service) -> tuple[llm.Provider | None, str | None]:
    """The configured provider, or None with the reason it cannot be used (answers then run offline)."""
    try:
        return llm.make_provider(service.settings), None
    except McpRagError as exc:  # a provider named but not usable: answer offline, say why
        return None, str(exc)


def retrieve(service: Service, req: AskRequest, namespace: str, question: str) -> tuple[list[Hit], list[SourceTurn]]:
    """Search for `question` with the request's filters; number the hits' turns. Raises NotFound, Invalid."""
    search = SearchRequest(query=question[:4000], top_k=req.top_k, **req.filters().model_dump())
    hits = service.search(search, namespace).hits
    return hits, number_turns(hits, service.turns_for(hits), service.settings.answer_context_tokens)


def prepare(service: Service, req: AskRequest, namespace: str, rewrite: bool = True) -> Prepared:
    """Rewrite (by the model only when `rewrite`) and retrieve. Raises (NotFound, Invalid,
    Unavailable) before any answering starts."""
    provider, error = make_provider(service)
    question = standalone_question(req.question, req.history, provider if rewrite else None)
    hits, sources = retrieve(service, req, namespace, question)
    return Prepared(question, req.question, hits, sources, provider, service, error)


def ask(service: Service, req: AskRequest, namespace: str) -> Answer:
    p = prepare(service, req, namespace)
    if p.provider is None:
        return p.extractive()
    if not p.supported:
        return p.not_found(p.provider, None)
    try:
        text = p.provider.complete(SYSTEM_PROMPT, user_prompt(p.question, p.sources))
    except Unavailable as exc:
        return p.extractive(error=str(exc))
    return p.generated(text)


def stream(service: Service, req: AskRequest, namespace: str) -> Iterator[tuple[str, Any]]:
    """Retrieve now with the offline rewrite (errors raise here), then yield events lazily:
    ("sources", {...}) (again if a model's rewrite finds other hits), ("token", {"text"}) ...,
    then ("done", Answer) or ("error", McpRagError)."""
    p = prepare(service, req, namespace, rewrite=False)

    def sources_event(p: Prepared) -> tuple[str, Any]:
        return "sources", {"sources": [h.model_dump(mode="json") for h in p.hits], "question": p.question}

    def events() -> Iterator[tuple[str, Any]]:
        nonlocal p
        yield sources_event(p)
        if p.provider is not None and req.history:
            question = standalone_question(req.question, req.history, p.provider)
            if question != p.question:
                hits, sources = retrieve(service, req, namespace, question)
                p = Prepared(question, req.question, hits, sources, p.provider, service, p.error)
                yield sources_event(p)
        if p.provider is None or not p.supported:
            result = p.extractive() if p.provider is None else p.not_found(p.provider, None)
            yield "token", {"text": result.answer}
            yield "done", result
            return
        parts: list[str] = []
        shown = CitationFilter(p.sources)
        try:
            for delta in p.provider.stream(SYSTEM_PROMPT, user_prompt(p.question, p.sources)):
                parts.append(delta)
                if text := shown.feed(delta):
                    yield "token", {"text": text}
        except Unavailable as exc:
            if parts:  # half an answer is out: the client must know it is cut short
                yield "error", exc
                return
            result = p.extractive(error=str(exc))
            yield "token", {"text": result.answer}
            yield "done", result
            return
        if text := shown.flush():
            yield "token", {"text": text}
        yield "done", p.generated("".join(parts))

    return events()


class CitationFilter:
    """Streamed text with citation markers checked before they are shown.

    Text from an opening bracket on is held back until the bracket closes (or
    turns out not to be a citation); a marker naming a turn that was not
    supplied is dropped, as `resolve_citations` drops it from the final text.
    """

    HOLD = 24  # a held "[" longer than this is not a citation marker

    def __init__(self, sources: list[SourceTurn]):
        self.valid = {s.n for s in sources}
        self.held = ""

    def feed(self, delta: str) -> str:
        self.held += delta
        out: list[str] = []
        while self.held:
            start = self.held.find("[")
            if start < 0:
                out.append(self.held)
                self.held = ""
                break
            out.append(self.held[:start])
            self.held = self.held[start:]
            end = self.held.find("]")
            if end < 0:
                if len(self.held) <= self.HOLD and re.fullmatch(r"\[[\d,;\s]*", self.held):
                    break  # may still become a citation: wait for more text
                out.append(self.held[0])
                self.held = self.held[1:]
                continue
            marker = self.held[: end + 1]
            self.held = self.held[end + 1 :]
            out.append(self._checked(marker))
        return "".join(out)

    def flush(self) -> str:
        held, self.held = self.held, ""
        return held

    def _checked(self, marker: str) -> str:
        inner = marker[1:-1]
        if not re.fullmatch(r"\d+(?:\s*[,;]\s*\d+)*", inner):  # what resolve_citations reads as citations
            return marker
        return "".join(f"[{n}]" for n in (int(x) for x in re.split(r"[,;]", inner)) if n in self.valid)


def standalone_question(question: str, history: list[ChatTurn], provider: llm.Provider | None) -> str:
    """The question as it would be asked without the chat before it."""
    recent = history[-HISTORY_TURNS:]
    if not recent:
        return question
    if provider is not None:
        chat = "\n".join(f"{t.role}: {t.content[:2000]}" for t in recent)
        try:
            rewritten = provider.complete(
                REWRITE_PROMPT,
                f"Earlier chat:\n{chat}\n\nLast question: {question}",
                max_tokens=REWRITE_MAX_TOKENS,
                retries=0,
            )
            rewritten = rewritten.strip().strip('"').strip()
            if 0 < len(rewritten) <= REWRITE_MAX_CHARS:
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
