"""Chunks indexed with neighbouring turns stay right when a conversation grows."""

from __future__ import annotations

from builders import make_conversation
from sqlalchemy import text

from mcp_rag.config import load_settings
from mcp_rag.models import MessageIn
from mcp_rag.service import Service


def test_appending_re_indexes_the_turns_whose_neighbours_arrived(service, settings):
    svc = Service(load_settings(data_dir=settings.data_dir, env="test", chunk_context=1))
    try:
        svc.ingest(make_conversation())
        with svc.engine.begin() as conn:
            before = dict(conn.execute(text("SELECT first_seq, id FROM chunks")).all())
        svc.append_messages("conv-1", [MessageIn(id="m4", author="Emi", content="Wow, a black run already!")])
        with svc.engine.begin() as conn:
            rows = conn.execute(text("SELECT first_seq, id, message_ids FROM chunks ORDER BY first_seq")).all()
        assert [r.message_ids for r in rows] == [["m1"], ["m2"], ["m3"], ["m4"]]  # nothing duplicated
        kept = {r.first_seq for r in rows if before.get(r.first_seq) == r.id}
        assert kept == {1, 2}  # m3 was re-indexed now that its next turn exists; older turns untouched
    finally:
        svc.close()
