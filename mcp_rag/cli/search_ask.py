"""`search` (hybrid search over stored turns) and `ask` (an answer with citations)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from mcp_rag.cli.common import (
    AUTHOR_OPTION,
    EXIT_CONFIG,
    EXIT_NOT_FOUND,
    EXIT_UNAVAILABLE,
    TIME_OPTION,
    app,
    err,
    explain,
    fail,
    open_service,
    out,
    when,
)
from mcp_rag.models import SearchRequest

if TYPE_CHECKING:
    from mcp_rag.models import Answer, AppliedFilters


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100)] = 10,
    conversation: Annotated[str | None, typer.Option(help="Only this conversation (id)")] = None,
    author: Annotated[str | None, typer.Option(help=AUTHOR_OPTION)] = None,
    role: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help=TIME_OPTION)] = None,
    until: Annotated[str | None, typer.Option(help=TIME_OPTION)] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone for times in words (default UTC)")] = None,
    namespace: Annotated[str, typer.Option()] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Hybrid search over stored conversations."""
    try:
        req = SearchRequest(
            query=query,
            top_k=top_k,
            conversation_id=conversation,
            author=author,
            role=role,
            source=source,
            since=since,
            until=until,
            timezone=timezone,
        )
    except ValidationError as exc:
        raise fail(explain(exc), EXIT_CONFIG) from None
    result = open_service().search(req, namespace)
    if as_json:
        out.print_json(result.model_dump_json())
        return
    _print_filters(result.filters)
    if not result.hits:
        out.print("no hits")
    for rank, hit in enumerate(result.hits, start=1):
        title = hit.title or hit.conversation_external_id
        out.print(
            f"[bold]{rank}. {title}[/bold]  messages {', '.join(hit.message_ids)} "
            f"({hit.first_seq}-{hit.last_seq} of {hit.message_count})  {when(hit.started_at)}  score {hit.score:.4f}",
            highlight=False,
        )
        out.print(hit.text, highlight=False, markup=False)
        out.print()
    err.print(f"{len(result.hits)} hits in {result.took_ms:.0f} ms", highlight=False)
    if result.hits:
        first = result.hits[0]
        err.print(
            f"context: mcp-rag conversations show {first.conversation_external_id} --around {first.message_ids[0]}",
            highlight=False,
            markup=False,
        )


def _print_filters(applied: AppliedFilters | None) -> None:
    """The filters as applied, so "last week" or "kate" shows what it was read as."""
    if applied is None:
        return
    parts = []
    if applied.authors:
        parts.append("author " + " or ".join(applied.authors))
    if applied.source:
        parts.append(f"source {applied.source}")
    if applied.since:
        parts.append(f"since {applied.since.isoformat()}")
    if applied.until:
        parts.append(f"until {applied.until.isoformat()}")
    err.print("filters: " + ", ".join(parts), highlight=False, markup=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=50, help="Search hits to answer from")] = 8,
    conversation: Annotated[str | None, typer.Option(help="Only this conversation (id)")] = None,
    author: Annotated[str | None, typer.Option(help=AUTHOR_OPTION)] = None,
    source: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help=TIME_OPTION)] = None,
    until: Annotated[str | None, typer.Option(help=TIME_OPTION)] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone for times in words (default UTC)")] = None,
    history: Annotated[
        Path | None, typer.Option(help='JSON file of prior turns: [{"role": "user", "content": "..."}, ...]')
    ] = None,
    namespace: Annotated[str, typer.Option()] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the full answer object as JSON")] = False,
) -> None:
    """Answer a question from stored conversations, with numbered citations (streamed).

    Exits with status 4 when the stored conversations hold no answer (`found: false`).
    """
    from mcp_rag.models import AskRequest

    try:
        turns = json.loads(history.read_text(encoding="utf-8")) if history else []
        req = AskRequest(
            question=question,
            top_k=top_k,
            conversation_id=conversation,
            author=author,
            source=source,
            since=since,
            until=until,
            timezone=timezone,
            history=turns,
        )
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise fail(explain(exc), EXIT_CONFIG) from None
    service = open_service()
    if as_json:
        answer = service.ask(req, namespace)
        out.print_json(answer.model_dump_json())
        if not answer.found:
            raise typer.Exit(EXIT_NOT_FOUND)
        return
    with err.status("searching…"):
        events = service.ask_stream(req, namespace)
        kind, payload = next(events)
    err.print(f"{len(payload['sources'])} sources for: {payload['question']}", highlight=False)
    for kind, payload in events:
        if kind == "sources":
            err.print(f"{len(payload['sources'])} sources for: {payload['question']}", highlight=False)
        elif kind == "token":
            out.print(payload["text"], end="", markup=False, highlight=False)
        elif kind == "error":
            out.print()
            raise fail(f"answer cut short: {payload}", EXIT_UNAVAILABLE)
        elif kind == "done":
            _print_answer_footer(payload)
            if not payload.found:
                raise typer.Exit(EXIT_NOT_FOUND)


def _print_answer_footer(answer: Answer) -> None:
    out.print()
    if answer.error:
        err.print(f"[yellow]provider failed:[/yellow] {answer.error}", highlight=False)
    label = "extractive answer (no language model)" if answer.extractive else f"{answer.provider} {answer.model}"
    err.print(f"— {label}", highlight=False)
    if not answer.found:
        err.print("not found: no stored turn is a strong match (exit status 4)", highlight=False)
    for c in answer.citations:
        where = c.title or c.conversation_external_id
        out.print(f"[{c.n}] {where} · message {', '.join(c.message_ids)} · {when(c.timestamp)}", markup=False)
        out.print(f"    {c.quote}", markup=False, highlight=False)
