"""`tokens create|list|revoke`: API tokens for the REST and MCP doors."""

from __future__ import annotations

from typing import Annotated

import typer

from mcp_rag.cli.common import err, open_service, out, print_table, tokens_app, when


@tokens_app.command("create")
def tokens_create(
    namespace: Annotated[str, typer.Option(help="Namespace the token may see")] = "default",
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, write, admin")] = "read",
    name: Annotated[str, typer.Option(help="A label to recognise it by")] = "",
) -> None:
    """Create an API token. The secret is printed once; only its hash is stored."""
    from mcp_rag import auth

    token = auth.create_token(open_service(), namespace, scopes, name)
    err.print(f"token {token.id} for namespace {token.namespace} ({','.join(token.scopes)}); store it now:")
    out.print(token.token, highlight=False)


@tokens_app.command("list")
def tokens_list(namespace: Annotated[str | None, typer.Option(help="Only this namespace")] = None) -> None:
    """List tokens (never their secrets)."""
    from rich.table import Table

    from mcp_rag import auth

    table = Table("id", "name", "namespace", "scopes", "prefix", "created", "last used", "revoked")
    table.columns[0].no_wrap = True
    for t in auth.list_tokens(open_service(), namespace):
        table.add_row(
            str(t.id),
            t.name,
            t.namespace,
            ",".join(t.scopes),
            t.prefix + "…",
            when(t.created_at),
            when(t.last_used_at),
            when(t.revoked_at),
        )
    print_table(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="Token id from `tokens list`")]) -> None:
    """Revoke a token; requests using it are refused from now on."""
    from mcp_rag import auth

    t = auth.revoke_token(open_service(), token_id)
    out.print(f"revoked {t.id}")
