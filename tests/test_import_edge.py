"""Importing exports the happy-path samples do not show: damaged and locked zips,
hostile JSON, byte-order marks, folders that mix exports, and the odd corners of
real Slack, Claude and Markdown files. Every sample is built here, in tmp_path.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

from test_import import run, stored

BOM = b"\xef\xbb\xbf"
MCP_RAG = str(Path(sys.executable).with_name("mcp-rag"))


def chatgpt_conversation(cid: str, *texts: str) -> dict:
    mapping: dict = {"root": {"id": "root", "message": None, "parent": None, "children": []}}
    parent = "root"
    for i, text in enumerate(texts):
        node = f"{cid}-m{i}"
        role = "user" if i % 2 == 0 else "assistant"
        mapping[node] = {
            "id": node,
            "parent": parent,
            "children": [],
            "message": {
                "id": node,
                "author": {"role": role},
                "content": {"content_type": "text", "parts": [text]},
                "create_time": 1709542800 + i,
            },
        }
        mapping[parent]["children"].append(node)
        parent = node
    return {"id": cid, "title": f"chat {cid}", "mapping": mapping, "current_node": parent}


def claude_conversation(uuid: str, *messages: dict) -> dict:
    return {"uuid": uuid, "name": f"chat {uuid}", "chat_messages": list(messages)}


def slack_export(folder: Path, days: dict[str, list[dict]], users: str | None = None) -> Path:
    """A minimal unzipped Slack export: users.json, channels.json and one file per channel day."""
    folder.mkdir(parents=True)
    default_users = [
        {"id": "U1", "name": "kate", "real_name": "Kate Moss"},
        {"id": "U2", "name": "bob", "real_name": "Bob Stone"},
    ]
    (folder / "users.json").write_text(users if users is not None else json.dumps(default_users))
    channels = sorted({day.split("/")[0] for day in days})
    (folder / "channels.json").write_text(json.dumps([{"id": f"C-{c}", "name": c} for c in channels]))
    for day, messages in days.items():
        (folder / day).parent.mkdir(exist_ok=True)
        (folder / day).write_text(json.dumps(messages))
    return folder


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                z.write(file, file.relative_to(folder).as_posix())
    return archive


def patched_zip(archive: Path, out: Path, flag: int = 0, method: int | None = None) -> Path:
    """The zip with every header's flag bits or compression method rewritten, as other zip tools write them."""
    data = bytearray(archive.read_bytes())
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        i = 0
        while (i := data.find(signature, i)) != -1:
            struct.pack_into("<H", data, i + flag_at, struct.unpack_from("<H", data, i + flag_at)[0] | flag)
            if method is not None:
                struct.pack_into("<H", data, i + method_at, method)
            i += 4
    out.write_bytes(bytes(data))
    return out


def messages_of(service, conversation_id: str) -> list[str]:
    return [m.content for m in service.get_conversation(conversation_id).messages]


# -- 1. zips that cannot be read ---------------------------------------------------------------


def test_an_encrypted_or_deflate64_zip_is_a_file_error_and_the_other_files_still_import(service, tmp_path):
    (tmp_path / "in").mkdir()
    good = tmp_path / "in" / "conversations.json"
    good.write_text(json.dumps([chatgpt_conversation("c1", "hello", "hi there")]))
    plain = zip_folder(good.parent, tmp_path / "plain.zip")
    later = tmp_path / "meeting.txt"
    later.write_text("Ann: one\nBen: two\nAnn: three\nBen: four\n")
    locked = patched_zip(plain, tmp_path / "locked.zip", flag=0x1)
    deflate64 = patched_zip(plain, tmp_path / "deflate64.zip", method=9)

    result = run(service, good, locked, deflate64, later)

    messages = [[e.message for e in f.errors] for f in result.files]
    assert messages[0] == [] and messages[3] == []
    assert messages[1] == ["encrypted: export it again without a password"]
    assert len(messages[2]) == 1
    assert "uses a compression method this reader does not support (Deflate64); re-zip it" in messages[2][0]
    assert set(stored(service)) == {"chatgpt:c1", next(k for k in stored(service) if k.startswith("transcript:"))}
    assert result.messages_added == 6


def test_rest_upload_of_an_encrypted_zip_is_reported_not_a_500(client, tmp_path):
    (tmp_path / "in").mkdir()
    good = tmp_path / "in" / "conversations.json"
    good.write_text(json.dumps([chatgpt_conversation("c1", "hello")]))
    locked = patched_zip(zip_folder(good.parent, tmp_path / "plain.zip"), tmp_path / "locked.zip", flag=0x1)
    r = client.post("/v1/import", files=[("files", ("locked.zip", locked.read_bytes(), "application/zip"))])
    assert r.status_code == 200, r.text
    assert r.json()["files"][0]["errors"][0]["message"] == "encrypted: export it again without a password"


# -- 2. hostile JSON -------------------------------------------------------------------------


def test_deeply_nested_json_is_an_invalid_json_error_not_a_crash(service, tmp_path):
    deep = tmp_path / "deep-object.json"
    deep.write_text("[" * 200_000)
    lines = tmp_path / "deep-lines.jsonl"
    lines.write_text(json.dumps({"id": "ok", "messages": [{"content": "fine"}]}) + "\n" + "[" * 200_000 + "\n")
    whole = tmp_path / "deep-whole.json"
    whole.write_text('{"id": "x", "messages": ' + "[" * 200_000 + "\n")

    result = run(service, deep, lines, whole)
    assert result.files[1].format == "json"
    assert [(e.location, e.message) for e in result.files[1].errors] == [
        ("deep-lines.jsonl:2", "not valid JSON (nested too deeply)")
    ]
    for file in (result.files[0], result.files[2]):
        assert "nested too deeply" in file.errors[0].message, file
    assert set(stored(service)) == {"ok"}

    forced = run(service, deep, whole, format="json")
    assert all("nested too deeply" in f.errors[0].message for f in forced.files)


# -- 3. byte-order marks ---------------------------------------------------------------------


def test_json_arrays_starting_with_a_byte_order_mark_import_like_any_other(service, tmp_path):
    exports = {
        "chatgpt.json": [chatgpt_conversation("c1", "hello", "hi")],
        "claude.json": [claude_conversation("u1", {"uuid": "m1", "sender": "human", "text": "hey"})],
        "ours.json": [{"id": "ours-1", "messages": [{"content": "plain"}]}],
    }
    paths = []
    for name, records in exports.items():
        (tmp_path / name).write_bytes(BOM + json.dumps(records).encode())
        paths.append(tmp_path / name)
    result = run(service, *paths)
    assert [f.format for f in result.files] == ["chatgpt", "claude", "json"]
    assert result.errors == 0 and set(stored(service)) == {"chatgpt:c1", "claude:u1", "ours-1"}

    forced = run(service, tmp_path / "ours.json", format="json")
    assert forced.errors == 0 and forced.files[0].skipped == 1


# -- 4, 5. folders holding several exports ---------------------------------------------------


def test_a_slack_export_below_a_folder_does_not_hide_the_other_files(service, tmp_path):
    exports = tmp_path / "exports"
    slack_export(
        exports / "slack-export",
        {"general/2024-03-04.json": [{"ts": "1709542800.0001", "user": "U1", "text": "hi all"}]},
    )
    (exports / "chatgpt").mkdir()
    (exports / "chatgpt" / "conversations.json").write_text(json.dumps([chatgpt_conversation("c1", "q", "a")]))
    (exports / "meeting.txt").write_text("Ann: one\nBen: two\nAnn: three\nBen: four\n")

    result = run(service, exports)
    assert sorted(result.files[0].format.split(",")) == ["chatgpt", "slack", "transcript"]
    convs = stored(service)
    assert "slack:C-general:2024-03-04" in convs and "chatgpt:c1" in convs
    assert any(k.startswith("transcript:") for k in convs) and result.errors == 0


def test_zips_inside_a_folder_are_imported_like_zips_given_directly(service, tmp_path):
    export = slack_export(
        tmp_path / "slack", {"general/2024-03-04.json": [{"ts": "1709542800.0001", "user": "U1", "text": "hi"}]}
    )
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    zip_folder(export, downloads / "slack-export.zip")
    (downloads / "notes.txt").write_text("Ann: one\nBen: two\nAnn: three\nBen: four\n")
    (downloads / "broken.zip").write_bytes((downloads / "slack-export.zip").read_bytes()[:300])

    result = run(service, downloads)
    assert sorted(result.files[0].format.split(",")) == ["slack", "transcript"]
    assert "slack:C-general:2024-03-04" in stored(service)
    assert [(e.location, e.message) for e in result.files[0].errors] == [
        ("downloads/broken.zip", "the zip is incomplete or damaged; download or export it again")
    ]


# -- 6, 7. Markdown and transcripts ------------------------------------------------------------


HEADINGS_CHAT = """# Setting up a project

## User
How do I set up a virtualenv?

## Assistant
Here are the steps:

**Step 1:** create the environment

```bash
# create
python -m venv .venv
```

**Step 2:** install the package

**Note:** on Windows use `activate.bat`.

## User
Thanks!

## Assistant
You're welcome.
"""


def test_bold_labels_inside_a_heading_style_chat_are_text_not_speakers(service, tmp_path):
    chat = tmp_path / "chat.md"
    chat.write_text(HEADINGS_CHAT)
    run(service, chat)
    (conv,) = stored(service).values()
    assert [m[1] for m in conv] == ["User", "Assistant", "User", "Assistant"]
    assert "**Step 2:** install the package\n\n**Note:** on Windows" in conv[1][2]


def test_bold_labels_that_head_part_of_an_answer_are_text_in_a_bold_style_chat(service, tmp_path):
    chat = tmp_path / "chat.md"
    chat.write_text(
        "**Kate:** how do I wax skis?\n**Bob:** like this:\n**Step 1:** warm the iron\n**Note:** not too hot\n"
        "**Kate:** thanks\n**Emi**: me too\n"
    )
    run(service, chat)
    (conv,) = stored(service).values()
    assert [m[1] for m in conv] == ["Kate", "Bob", "Kate", "Emi"], "Emi speaks once and is still a speaker"
    assert conv[1][2] == "like this:\n**Step 1:** warm the iron\n**Note:** not too hot"


def test_nothing_inside_a_fenced_code_block_is_a_speaker_line(service, tmp_path):
    markdown = tmp_path / "scripts.md"
    markdown.write_text(
        "# Shell tips\n\n## User\nShow me two scripts\n\n## Assistant\nFirst:\n\n```bash\n# Usage\n./a.sh\n```\n\n"
        "Second:\n\n```bash\n# Usage\n./b.sh\n```\n"
    )
    transcript = tmp_path / "pairing.txt"
    transcript.write_text(
        "Ann: the build fails\nBen: paste the log\nAnn: here:\n```\nError: missing module\nError: exit 1\n```\n"
        "Ben: install it\n"
    )
    result = run(service, markdown, transcript)
    assert [f.format for f in result.files] == ["markdown", "transcript"]
    md = service.get_conversation(str(service.list_conversations(source="markdown").items[0].id))
    assert [m.author for m in md.messages] == ["User", "Assistant"]
    assert md.messages[1].content.count("```") == 4 and md.messages[1].content.endswith("./b.sh\n```")
    plain = service.get_conversation(str(service.list_conversations(source="transcript").items[0].id))
    assert [m.author for m in plain.messages] == ["Ann", "Ben", "Ann", "Ben"]
    assert plain.messages[2].content == "here:\n```\nError: missing module\nError: exit 1\n```"


# -- 8, 9. Claude ------------------------------------------------------------------------------

PLACEHOLDER = "\n\n```\nThis block is not supported on your current device yet.\n```\n"


def test_claude_unsupported_block_placeholder_is_never_stored(service, tmp_path):
    empty = {"type": "text", "text": ""}
    artifact = {"type": "tool_use", "name": "artifacts", "input": {"id": "p", "title": "Packing list"}}
    tool = {"type": "tool_use", "name": "web_search", "input": {"query": "snow"}}
    export = tmp_path / "conversations.json"
    export.write_text(
        json.dumps(
            [
                claude_conversation(
                    "u1",
                    {"uuid": "m1", "sender": "human", "text": "make me a packing list"},
                    {"uuid": "m2", "sender": "assistant", "text": PLACEHOLDER, "content": [empty, artifact, empty]},
                    {"uuid": "m3", "sender": "assistant", "text": PLACEHOLDER, "content": [tool]},
                    {"uuid": "m4", "sender": "human", "text": "see:" + PLACEHOLDER},
                )
            ]
        )
    )
    result = run(service, export)
    assert result.errors == 0
    assert messages_of(service, "claude:u1") == ["make me a packing list", "[artifact: Packing list]", "see:"]


def test_messages_without_ids_are_numbered_over_the_whole_conversation(service, tmp_path):
    export = tmp_path / "conversations.json"
    turns = [{"sender": "human" if i % 2 else "assistant", "text": f"turn {i}"} for i in range(1, 1006)]
    chatgpt = chatgpt_conversation("c1", *(f"turn {i}" for i in range(1, 1006)))
    for node in chatgpt["mapping"].values():
        node.pop("id")
        if node["message"]:
            node["message"].pop("id")
    export.write_text(json.dumps([claude_conversation("u1", *turns)]))
    other = tmp_path / "chatgpt.json"
    other.write_text(json.dumps([chatgpt]))
    result = run(service, export, other)
    assert result.errors == 0 and result.messages_added == 2010
    convs = stored(service)
    assert len(convs["claude:u1"]) == 1005 and len(convs["chatgpt:c1"]) == 1005
    assert convs["claude:u1"][-1][2] == "turn 1005"
    assert run(service, export, other).messages_added == 0


# -- 10, 11. Slack ---------------------------------------------------------------------------


def test_slack_shared_messages_rich_text_blocks_and_hidden_files(service, tmp_path):
    shared = {
        "ts": "1709539210.000100",
        "user": "U1",
        "text": "",
        "attachments": [{"is_share": True, "author_name": "Bob", "text": "The cabin code is 4921"}],
    }
    blocks = {
        "ts": "1709539220.000100",
        "user": "U2",
        "blocks": [
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {"type": "text", "text": "rich text only, ask "},
                            {"type": "user", "user_id": "U1"},
                            {"type": "text", "text": " "},
                            {"type": "link", "url": "https://example.com", "text": "here"},
                        ],
                    },
                    {
                        "type": "rich_text_list",
                        "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "skis"}]}],
                    },
                ],
            }
        ],
    }
    hidden = {"ts": "1709539230.000100", "user": "U1", "text": "", "files": [{"id": "F1", "mode": "hidden_by_limit"}]}
    named = {
        "ts": "1709539240.000100",
        "user": "U1",
        "text": "the plan",
        "files": [{"id": "F2", "name": "plan.pdf", "title": "Offsite plan"}, {"id": "F3", "name": "map.png"}],
    }
    export = slack_export(tmp_path / "slack", {"general/2024-03-04.json": [shared, blocks, hidden, named]})
    result = run(service, export)
    assert result.errors == 0
    assert messages_of(service, "slack:C-general:2024-03-04") == [
        "> Bob: The cabin code is 4921",
        "rich text only, ask @Kate Moss here (https://example.com)\n• skis",
        "the plan\n[file: plan.pdf, Offsite plan]\n[file: map.png]",
    ]


def test_an_unreadable_slack_users_list_is_reported_and_the_export_still_imports(service, tmp_path):
    export = slack_export(
        tmp_path / "slack",
        {"general/2024-03-04.json": [{"ts": "1709542800.0001", "user": "U1", "text": "hi"}]},
        users='[{"id": "U1", "real_name": "Kate"',
    )
    result = run(service, export)
    (error,) = result.files[0].errors
    assert error.location.startswith("slack/users.json") and "authors are shown as Slack user ids" in error.message
    assert stored(service)["slack:C-general:2024-03-04"] == [("1709542800.0001", "U1", "hi")]


def test_damaged_files_say_what_is_wrong_with_them(service, tmp_path):
    truncated = tmp_path / "conversations.json"
    truncated.write_text(json.dumps([chatgpt_conversation("c1", "hello " * 50, "hi")])[:200])
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "x", "messages": [{"content": "hi"}')
    whole = zip_folder(tmp_path, tmp_path.parent / f"{tmp_path.name}-whole.zip")
    half = tmp_path / "half.zip"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    odd = tmp_path / "config.yaml"
    odd.write_text("name: app\nversion: 3\n")

    result = run(service, truncated, broken, half, odd)
    messages = [f.errors[0].message for f in result.files]
    assert messages[0].startswith("not valid JSON (") and messages[1].startswith("not valid JSON (")
    assert messages[2] == "the zip is incomplete or damaged; download or export it again"
    assert "--format" in messages[3] and "`format` field" in messages[3]


def test_a_timestamped_transcript_is_a_transcript_not_whatsapp(service, tmp_path):
    meeting = tmp_path / "meeting.txt"
    meeting.write_text(
        "[2024-03-04 10:00] Kate: Morning all.\n[2024-03-04 10:01] Bob: I booked the cabin.\nNote: it has a sauna.\n"
        "[2024-03-04 10:02] Kate: Perfect.\n[2024-03-04 10:03] Bob: I can drive.\n"
    )
    swedish = tmp_path / "WhatsApp Chat.txt"
    swedish.write_text("[2024-03-04 10:00:12] Kate: hej\n[2024-03-04 10:01:40] Bob: hej hej\n")
    result = run(service, meeting, swedish)
    assert [f.format for f in result.files] == ["transcript", "whatsapp"]
    (item,) = service.list_conversations(source="transcript").items
    t = service.get_conversation(str(item.id))
    assert [m.author for m in t.messages] == ["Kate", "Bob", "Kate", "Bob"]
    assert t.messages[1].content == "I booked the cabin.\nNote: it has a sauna."
    assert t.messages[1].timestamp.isoformat() == "2024-03-04T10:01:00+00:00"


def test_cli_reports_an_encrypted_zip_without_a_traceback(service, data_dir, tmp_path):
    import os

    (tmp_path / "in").mkdir()
    good = tmp_path / "in" / "conversations.json"
    good.write_text(json.dumps([chatgpt_conversation("c1", "hello")]))
    locked = patched_zip(zip_folder(good.parent, tmp_path / "plain.zip"), tmp_path / "locked.zip", flag=0x1)
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_ENV": "test"}
    r = subprocess.run(
        [MCP_RAG, "import", str(locked), str(good)], capture_output=True, text=True, timeout=300, env=env
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "encrypted: export it again without a password" in r.stderr
    assert f"{good} (chatgpt): 1 conversations, 1 messages added" in r.stdout
