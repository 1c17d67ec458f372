"""`conversations list|show|delete` and `remember`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from mcp_rag.cli.common import EXIT_CONFIG, EXIT_FAILED, app, conversations_app, err, fail, open_service, out, when
from mcp_rag.models import AROUND_AFTER, AROUND_BEFORE


@conversations_app.command("list")
def conversations_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor from the previous page")] = None,
    source: Annotated[str | None, typer.Option()] = None,
    author: Annotated[str | None, typer.Option(help="Only conversations this person took part in")] = None,
    namespace: Annotated[str, typer.Option()] = "default",
    wide: Annotated[bool, typer.Option("--wide", help="Every column, as wide as it needs")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List conversations, newest first."""
    page = open_service().list_conversations(namespace, limit, cursor, source, None, author)
    if as_json:
        out.print_json(page.model_dump_json())
        return
    from rich.table import Table

    if wide:
        table = Table("id", "external id", "title", "source", "messages", "started", "ended", "participants")
        for c in page.items:
            table.add_row(
                str(c.id),
                c.external_id,
                c.title or "",
                c.source or "",
                str(c.message_count),
                when(c.started_at),
                when(c.ended_at),
                ", ".join(c.participants),
            )
        Console(width=100_000).print(table)
    else:
        # 80 columns: the id `show` and `delete` take is never cut; the title gives way.
        table = Table("external id", "title", "msgs", "started", box=None, pad_edge=False)
        table.columns[0].no_wrap = True
        table.columns[0].min_width = max((len(c.external_id) for c in page.items), default=11)
        table.columns[1].no_wrap, table.columns[1].overflow = True, "ellipsis"
        table.columns[2].justify = "right"
        for c in page.items:
            table.add_row(c.external_id, c.title or "", str(c.message_count), when(c.started_at)[:10])
        (out if out.is_terminal else Console(width=80)).print(table)
    if page.next_cursor:
        err.print(f"more: --cursor {page.next_cursor}", highlight=False)


@conversations_app.command("show")
def conversations_show(
    conversation: Annotated[str, typer.Argument(help="Conversation id (ours or yours)")],
    offset: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 200,
    around: Annotated[str | None, typer.Option(help="A message id: show the messages around it")] = None,
    before: Annotated[int, typer.Option(min=0, max=999, help="With --around: messages before it")] = AROUND_BEFORE,
    after: Annotated[int, typer.Option(min=0, max=999, help="With --around: messages after it")] = AROUND_AFTER,
    all_: Annotated[bool, typer.Option("--all", help="Every message, page after page")] = False,
    namespace: Annotated[str, typer.Option()] = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print a conversation's transcript: a page of it, the turns around a message, or all of it."""
    service = open_service()
    t = service.get_conversation(conversation, namespace, offset, limit, around, before, after)
    if as_json and not all_:
        out.print_json(t.model_dump_json())
        return
    pages = [t]
    if all_:
        while pages[-1].offset + len(pages[-1].messages) < pages[-1].message_count and pages[-1].messages:
            following = pages[-1].offset + len(pages[-1].messages)
            pages.append(service.get_conversation(conversation, namespace, following, 1000))
    if as_json:
        whole = t.model_copy(update={"messages": [m for p in pages for m in p.messages], "limit": t.message_count})
        out.print_json(whole.model_dump_json())
        return
    out.print(f"[bold]{t.title or t.external_id}[/bold]  ({t.message_count} messages, id {t.id})", highlight=False)
    for page in pages:
        for m in page.messages:
            out.print(
                f"[{m.id}] {when(m.timestamp)} {m.author or m.role or ''}: ", end="", highlight=False, markup=False
            )
            out.print(m.content, markup=False, highlight=False)
    last = pages[-1]
    shown_to = last.offset + len(last.messages)
    if not all_ and (t.offset > 0 or shown_to < t.message_count):
        where = f"showed messages {t.offset + 1}-{shown_to} of {t.message_count}"
        hints = []
        if shown_to < t.message_count:
            hints.append(f"next: --offset {shown_to}")
        hints.append("everything: --all")
        err.print(f"{where}; {', '.join(hints)}", highlight=False, markup=False)


@conversations_app.command("delete")
def conversations_delete(
    conversation: Annotated[str, typer.Argument(help="Conversation id (ours or yours)")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking")] = False,
    namespace: Annotated[str, typer.Option()] = "default",
) -> None:
    """Delete a conversation with its messages and chunks (asks first, unless --yes)."""
    service = open_service()
    if not yes:
        if not sys.stdin.isatty():
            raise fail("not deleting without a terminal to confirm on; pass --yes", EXIT_CONFIG)
        t = service.get_conversation(conversation, namespace, 0, 1)
        name = t.title or t.external_id
        if not typer.confirm(f"Delete {name!r} ({t.message_count} messages)? This cannot be undone"):
            raise fail("not deleted", EXIT_FAILED)
    cid = service.delete_conversation(conversation, namespace)
    out.print(f"deleted {cid}")


@app.command()
def remember(
    note: Annotated[str, typer.Argument(help="The note or fact to keep")],
    author: Annotated[str | None, typer.Option(help="Who said it (default: local)")] = None,
    namespace: Annotated[str, typer.Option()] = "default",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Keep one note or fact in the namespace's notes conversation, searchable like any turn."""
    kept = open_service().remember(note, namespace, author)
    if as_json:
        out.print_json(kept.model_dump_json())
        return
    out.print(f"remembered as message {kept.message_id} of {kept.conversation_external_id}", highlight=False)
