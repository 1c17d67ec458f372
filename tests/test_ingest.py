"""Ingest on the real embedded PostgreSQL: idempotent, appending, all-or-nothing."""

from __future__ import annotations

import threading
import time

import pytest
from builders import make_conversation
from pydantic import ValidationError
from sqlalchemy import text

from mcp_rag.errors import NotFound, Unavailable
from mcp_rag.models import ConversationIn, MessageIn


def count(service, table: str) -> int:
    with service.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_reingesting_same_conversation_adds_no_duplicates(service):
    first = service.ingest(make_conversation())
    second = service.ingest(make_conversation())
    assert first.created and not second.created
    assert first.id == second.id
    assert second.messages_added == 0
    assert count(service, "messages") == 3
    assert count(service, "conversations") == 1


def test_new_messages_of_a_known_conversation_are_appended(service):
    service.ingest(make_conversation())
    longer = make_conversation().model_dump()
    longer["messages"].append({"id": "m4", "author": "Emi", "content": "Next time I'm coming along!"})
    result = service.ingest(ConversationIn(**longer))
    assert result.messages_added == 1 and result.messages_total == 4
    transcript = service.get_conversation("conv-1")
    assert [m.id for m in transcript.messages] == ["m1", "m2", "m3", "m4"]
    assert [m.seq for m in transcript.messages] == [1, 2, 3, 4]


def test_conversation_without_ids_is_idempotent_by_content(service):
    conv = ConversationIn(messages=[{"author": "a", "content": "hello"}, {"author": "b", "content": "hi there"}])
    one = service.ingest(conv)
    two = service.ingest(conv)
    assert one.id == two.id and two.messages_added == 0
    assert one.external_id.startswith("sha256:")
    assert [m.id for m in service.get_conversation(str(one.id)).messages] == ["1", "2"]


def test_append_messages_to_unknown_conversation_is_not_found(service):
    with pytest.raises(NotFound):
        service.append_messages("nope", [MessageIn(content="hi")])


def test_append_messages_continues_the_sequence(service):
    service.ingest(make_conversation())
    result = service.append_messages("conv-1", [MessageIn(content="one more"), MessageIn(content="and another")])
    assert result.messages_added == 2
    ids = [m.id for m in service.get_conversation("conv-1").messages]
    assert ids == ["m1", "m2", "m3", "4", "5"]


def test_every_message_is_covered_by_chunks_after_appends(service):
    service.ingest(make_conversation())
    for i in range(20):
        service.append_messages("conv-1", [MessageIn(author="x", content=f"message number {i} " * 5)])
    with service.engine.connect() as conn:
        covered = conn.execute(text("SELECT array_agg(m) FROM chunks, unnest(message_ids) m")).scalar_one()
        overlapping = conn.execute(
            text("SELECT count(*) FROM chunks a JOIN chunks b ON a.id < b.id AND a.last_seq >= b.first_seq")
        ).scalar_one()
    assert sorted(covered) == sorted(["m1", "m2", "m3"] + [str(i) for i in range(4, 24)])
    assert overlapping == 0


@pytest.mark.parametrize(
    "bad_message",
    [
        {"content": "nul \x00 byte"},
        {"content": "   "},
        {"author": "x"},
        {"content": "lone \ud800 surrogate"},
        {"content": "x" * 200_001},
        {"content": "ok", "timestamp": "not a date"},
    ],
)
def test_bad_records_are_rejected_before_anything_is_written(service, bad_message):
    with pytest.raises(ValidationError):
        ConversationIn(id="bad", messages=[{"content": "fine"}, bad_message])
    assert count(service, "conversations") == 0


def test_a_connection_killed_mid_ingest_leaves_nothing_behind(service):
    """Kill the ingest's database connection while it is embedding inside its
    transaction: no conversation, message or chunk of it may survive."""
    big = ConversationIn(
        id="big",
        messages=[{"author": f"p{i % 2}", "content": f"turn {i} about skiing and snow " * 8} for i in range(400)],
    )
    errors: list[Exception] = []

    def run():
        try:
            service.ingest(big)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    killed = False
    with service.engine.connect() as conn:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not killed:
            pid = conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid <> pg_backend_pid() LIMIT 1"
                )
            ).scalar()
            if pid:
                time.sleep(0.5)  # messages are inserted; embedding is under way
                killed = conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
            conn.commit()
            time.sleep(0.05)
    worker.join(600)  # the embedding is slow on a loaded machine; the kill makes it fail at its next statement
    assert killed, "the ingest never held its lock"
    assert errors and isinstance(errors[0], Unavailable)
    assert count(service, "conversations") == 0
    assert count(service, "messages") == 0
    assert count(service, "chunks") == 0
    # and the service recovers on the next call
    assert service.ingest(make_conversation()).created
