"""The importers by the name `--format` takes."""

from __future__ import annotations

from mcp_rag.importers import chatgpt, claude, markdown, openai_chat, ours, slack, transcript, whatsapp

FORMATS = {m.NAME: m for m in (slack, chatgpt, claude, whatsapp, markdown, transcript, ours, openai_chat)}
