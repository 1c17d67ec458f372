"""Test data builders, and small helpers, shared by the test modules."""

from __future__ import annotations

import time
from collections.abc import Callable

from mcp_rag.models import ConversationIn


def make_conversation(id: str = "conv-1", messages: list[dict] | None = None, **fields) -> ConversationIn:
    messages = messages or [
        {
            "id": "m1",
            "author": "Kate",
            "content": "I went skiing in Colorado last weekend.",
            "timestamp": "2024-01-02T10:00:00Z",
        },
        {"id": "m2", "author": "Emi", "content": "How was the snow up there?", "timestamp": "2024-01-02T10:01:00Z"},
        {
            "id": "m3",
            "author": "Kate",
            "content": "Fresh powder, and I finally tried a black run.",
            "timestamp": "2024-01-02T10:02:00Z",
        },
    ]
    return ConversationIn(id=id, messages=messages, **fields)


def conversation_row(conn, external_id: str = "c"):
    """A bare conversations row written in SQL, for schema tests at an older
    revision (where the service's own code may not match the schema): its id."""
    from sqlalchemy import text

    return conn.execute(
        text("INSERT INTO conversations (namespace, external_id) VALUES ('default', :e) RETURNING id"),
        {"e": external_id},
    ).scalar_one()


def wait_until(check: Callable[[], bool], seconds: float) -> bool:
    """Poll `check` every 50 ms for up to `seconds`; whether it became true."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()
