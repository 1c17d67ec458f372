"""Properties: no input makes an importer crash, and no import half-writes.

Parsing is checked on many generated inputs (bytes, JSON built from the keys
the real exports use, Slack trees, chat-like text); storing on fewer, against
the real database: what is stored is exactly the conversations the parser
produced, each in full, and the report's counts match the database.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from mcp_rag.importers import slack
from mcp_rag.importers.base import Meter, Parsed, Problem, file_entry, folder_tree
from mcp_rag.importers.detect import detect
from mcp_rag.importers.formats import FORMATS

KEYS = [
    "id", "uuid", "title", "name", "messages", "role", "content", "author", "timestamp", "mapping", "current_node",
    "parent", "children", "message", "parts", "content_type", "create_time", "recipient", "metadata",
    "conversation_id", "chat_messages", "sender", "text", "created_at", "attachments", "file_name", "ts", "user",
    "thread_ts", "reply_count", "subtype", "files", "edited", "bot_id", "reactions", "type", "profile", "real_name",
]  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=True), st.text(max_size=30),
    st.sampled_from(["user", "assistant", "human", "text", "1709542800.000200", "2024-03-04T10:00:00Z", "\x00", ""]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6),
    max_leaves=30,
)
chat_lines = st.lists(
    st.one_of(
        st.builds("{}: {}".format, st.sampled_from(["Kate", "Emi", "User", "Note", "12"]), st.text(max_size=20)),
        st.builds(
            lambda d, m, t: f"[{d}/{m}/24, 10:0{d % 10}] Kate: {t}",
            st.integers(0, 40), st.integers(0, 40), st.text(max_size=10),
        ),
        st.builds(lambda d, t: f"{d}/1/2024, 9:05 PM - Emi: {t}", st.integers(0, 99), st.text(max_size=10)),
        st.sampled_from(["## User", "## Assistant", "**Kate:** hi", "---", "", "# Title", "\ufeff", "\u200e"]),
        st.text(max_size=30),
    ),
    max_size=15,
)  # fmt: skip
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def read_everything(path: Path) -> list:
    """Detection plus every file importer on the same bytes: all must return items, none may raise."""
    entry = file_entry(path, path.name, Meter())
    items = []
    detect(entry)
    for name, module in FORMATS.items():
        if name != slack.NAME:
            items.extend(module.read(entry))
    assert all(isinstance(i, Parsed | Problem) for i in items)
    return items


def with_file(data: bytes, suffix: str = ".json") -> list:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        return read_everything(path)


@FAST
@given(st.binary(max_size=300), st.sampled_from([".json", ".jsonl", ".txt", ".md"]))
def test_arbitrary_bytes_never_crash_an_importer(data, suffix):
    with_file(data, suffix)


@FAST
@given(json_values, st.sampled_from(["array", "lines", "object"]))
def test_json_shaped_like_exports_never_crashes_an_importer(value, shape):
    if shape == "array":
        data = json.dumps(value if isinstance(value, list) else [value])
    elif shape == "lines":
        data = "\n".join(json.dumps(v) for v in (value if isinstance(value, list) else [value, value]))
    else:
        data = json.dumps(value)
    with_file(data.encode())


@FAST
@given(chat_lines)
def test_chat_like_text_never_crashes_an_importer(lines):
    with_file("\n".join(lines).encode("utf-8", "surrogatepass"), ".txt")


@FAST
@given(json_values, json_values, st.lists(json_values, max_size=4))
def test_slack_trees_never_crash_the_slack_importer(users, channels, messages):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "users.json").write_text(json.dumps(users))
        (root / "channels.json").write_text(json.dumps(channels))
        (root / "general").mkdir()
        (root / "general" / "2024-03-04.json").write_text(json.dumps(messages))
        items = list(slack.read_export(folder_tree(root, "export", Meter())))
    assert all(isinstance(i, Parsed | Problem) for i in items)


# -- storing: exactly what was parsed, each conversation whole ----------------------

message = st.fixed_dictionaries(
    {"uuid": st.sampled_from(["m1", "m2", "m3", "m4"]), "sender": st.sampled_from(["human", "assistant", "bot"])},
    optional={
        "text": st.one_of(st.text(max_size=12), st.just("\x00nul"), st.just("  ")),
        "created_at": st.sampled_from(["2024-02-10T18:22:05Z", "not a date", "2024-13-40T99:00:00Z"]),
    },
)
conversation = st.fixed_dictionaries(
    {"uuid": st.sampled_from(["c1", "c2", "c3"]), "chat_messages": st.lists(message, max_size=4)},
    optional={"name": st.one_of(st.text(max_size=8), st.just("x" * 1001), st.just("nul\x00"))},
)


def clean(service) -> None:
    with service.engine.begin() as conn:
        conn.execute(text("TRUNCATE conversations, namespaces CASCADE"))
        conn.execute(text("INSERT INTO namespaces (name) VALUES ('default')"))


def stored(service) -> dict[str, list[str]]:
    with service.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.external_id, m.external_id FROM conversations c "
                "LEFT JOIN messages m ON m.conversation_id = c.id ORDER BY c.external_id, m.seq"
            )
        ).all()
    out: dict[str, list[str]] = {}
    for conv, mid in rows:
        out.setdefault(conv, [])
        if mid is not None:
            out[conv].append(mid)
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(conversation, max_size=4))
def test_an_import_stores_exactly_the_parsed_conversations_each_in_full(session_service, conversations):
    clean(session_service)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "conversations.json"
        path.write_text(json.dumps(conversations))
        expected: dict[str, list[str]] = {}
        for item in FORMATS["claude"].read(file_entry(path, path.name, Meter())):
            if isinstance(item, Parsed):
                ids = expected.setdefault(item.conversation.id, [])
                ids.extend(m.id for m in item.conversation.messages if m.id not in ids)
        result = session_service.import_files([(path.name, path)], format="claude")
    assert stored(session_service) == expected
    assert result.messages_added == sum(len(v) for v in expected.values())
    assert result.conversations == len(expected)
