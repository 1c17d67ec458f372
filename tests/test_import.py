"""Importing exports through the service, over real PostgreSQL and the real embedder.

The samples under tests/fixtures/import are hand-written in each export's real
shape (Slack workspace export, ChatGPT and Claude conversations.json, WhatsApp
iOS and Android, plain and Markdown transcripts, our JSON Lines, OpenAI
message lists), including malformed ones.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from sqlalchemy import text

FIXTURES = Path(__file__).parent / "fixtures" / "import"


def run(service, *paths: Path | str, **options):
    return service.import_files([(Path(p).name, Path(p)) for p in paths], "default", **options)


def stored(service) -> dict[str, list[tuple[str, str | None, str]]]:
    """Every conversation's messages as (id, author, content), by conversation id."""
    with service.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.external_id, m.external_id, m.author, m.content FROM messages m "
                "JOIN conversations c ON c.id = m.conversation_id ORDER BY c.external_id, m.seq"
            )
        ).all()
    out: dict[str, list] = {}
    for conv, mid, author, content in rows:
        out.setdefault(conv, []).append((mid, author, content))
    return out


def zipped(folder: Path, tmp_path: Path) -> Path:
    archive = tmp_path / f"{folder.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                z.write(file, f"export/{file.relative_to(folder)}")  # Slack zips may nest one folder
    return archive


def test_slack_export_becomes_threads_and_channel_days_with_names_not_ids(service):
    result = run(service, FIXTURES / "slack_export")
    assert result.files[0].format == "slack" and result.errors == 0
    convs = stored(service)
    assert set(convs) == {
        "slack:C01GENERAL:1709542800.000200",  # the thread, its replies spanning two day files
        "slack:C01GENERAL:2024-03-04",
        "slack:C01GENERAL:2024-03-05",
        "slack:C02RANDOM:2024-03-04",
    }
    thread = convs["slack:C01GENERAL:1709542800.000200"]
    assert [(m[0], m[1]) for m in thread] == [
        ("1709542800.000200", "Kate Moss"),
        ("1709543100.000300", "Emi Tanaka"),
        ("1709629200.000500", "Raj"),  # no real_name: the display name
    ]
    assert thread[1][2] == "Do we need passports for Lisbon? @Kate Moss"
    day = convs["slack:C01GENERAL:2024-03-04"]
    assert len(day) == 1, "joins and bot posts are noise by default"
    assert day[0][2] == (
        "Budget spreadsheet for the offsite & travel, see the sheet (https://docs.example.com/budget)\n"
        "[file: offsite-budget.xlsx, Offsite budget]"
    )
    assert "#random" in convs["slack:C01GENERAL:2024-03-05"][0][2]
    assert result.conversations == 4 and result.messages_added == 7


def test_slack_metadata_keeps_edits_files_reactions_and_titles(service):
    run(service, FIXTURES / "slack_export")
    t = service.get_conversation("slack:C01GENERAL:1709542800.000200")
    assert t.title.startswith("#general: Morning all! The Q2 offsite")
    assert t.source == "slack" and t.metadata["channel"] == "general"
    assert t.messages[0].metadata["reactions"] == {"tada": 2}
    budget = service.get_conversation("slack:C01GENERAL:2024-03-04").messages[0]
    assert budget.metadata["edited_at"].startswith("2024-03-04 11:01:00")
    assert budget.metadata["files"][0]["permalink"].endswith("offsite-budget.xlsx")


def test_keep_noise_imports_joins_and_bot_posts(service):
    run(service, FIXTURES / "slack_export", keep_noise=True)
    day = stored(service)["slack:C01GENERAL:2024-03-04"]
    assert [m[2] for m in day][:2] == ["@Raj has joined the channel", "Deployed api v2.3.1 to production"]


def test_slack_zip_imports_the_same_as_its_folder(service, tmp_path):
    result = run(service, zipped(FIXTURES / "slack_export", tmp_path))
    assert result.files[0].format == "slack" and result.messages_added == 7 and result.errors == 0


def test_reimporting_an_export_skips_every_conversation_and_duplicates_nothing(service, tmp_path):
    first = run(service, FIXTURES / "slack_export")
    again = run(service, zipped(FIXTURES / "slack_export", tmp_path))
    assert again.messages_added == 0 and again.conversations == 0
    assert again.files[0].skipped == first.conversations == 4
    assert sum(len(m) for m in stored(service).values()) == 7


def test_slack_export_grown_by_a_day_appends_to_the_open_thread(service, tmp_path):
    export = tmp_path / "slack"
    shutil.copytree(FIXTURES / "slack_export", export)
    later = export / "general" / "2024-03-05.json"
    later.rename(tmp_path / "held-back.json")
    run(service, export)
    assert len(stored(service)["slack:C01GENERAL:1709542800.000200"]) == 2
    (tmp_path / "held-back.json").rename(later)
    result = run(service, export)
    assert result.messages_added == 2
    assert len(stored(service)["slack:C01GENERAL:1709542800.000200"]) == 3


def test_malformed_slack_export_reports_each_bad_record_and_keeps_the_rest(service):
    result = run(service, FIXTURES / "slack_broken")
    errors = [(e.location, e.message) for e in result.files[0].errors]
    assert errors == [
        ("slack_broken/general/2024-03-04.json[1]", "message has no valid `ts`"),
        ("slack_broken/general/2024-03-04.json[2]", "expected a message object"),
        (
            "slack_broken/general/2024-03-05.json[1]",
            "not valid JSON (lexical error: invalid character inside string.); the rest of the file was skipped",
        ),
    ]
    convs = stored(service)
    assert [m[2] for m in convs["slack:C01GENERAL:2024-03-04"]] == ["this one is fine", "after the bad ones"]
    assert [m[2] for m in convs["slack:C01GENERAL:2024-03-05"]] == ["written before the file breaks"]


def test_chatgpt_export_follows_the_branch_the_user_last_saw(service):
    result = run(service, FIXTURES / "chatgpt" / "conversations.json")
    assert result.files[0].format == "chatgpt" and result.errors == 0
    t = service.get_conversation("chatgpt:6a0f3c2e-1111-4b2a-9c3d-5e6f7a8b9c0d")
    assert t.title == "Sourdough starter help" and t.url == "https://chatgpt.com/c/6a0f3c2e-1111-4b2a-9c3d-5e6f7a8b9c0d"
    assert [(m.id, m.author, m.role) for m in t.messages] == [
        ("msg-u1", "User", "user"),
        ("msg-a1-new", "ChatGPT", "assistant"),  # the regenerated answer, not the abandoned one
        ("msg-u2", "User", "user"),  # hidden system turn and tool call left out
    ]
    assert t.messages[1].metadata == {"model": "gpt-4o"}
    assert t.messages[2].content == "[image]\nHere's a photo after two feedings, bubbles everywhere!"
    assert t.messages[0].timestamp.isoformat() == "2024-03-01T09:00:00.500000+00:00"


def test_malformed_chatgpt_export_skips_bad_conversations_with_their_index(service):
    result = run(service, FIXTURES / "chatgpt_malformed.json")
    locations = [e.location for e in result.files[0].errors]
    assert locations == ["chatgpt_malformed.json[1]", "chatgpt_malformed.json[3]"]
    assert "rest of the file was skipped" in result.files[0].errors[1].message
    convs = stored(service)
    assert len(convs["chatgpt:11111111-aaaa-4bbb-8ccc-000000000001"]) == 2
    assert [m[2] for m in convs["chatgpt:11111111-aaaa-4bbb-8ccc-000000000003"]] == ["round and round"]


def test_claude_export_reads_content_blocks_attachments_and_reports_unknown_senders(service):
    result = run(service, FIXTURES / "claude")  # the export folder: users.json is passed over
    assert result.files[0].format == "claude"
    assert [(e.location, e.message) for e in result.files[0].errors] == [
        ("claude/conversations.json[1].chat_messages[2]", "unknown sender 'alien'")
    ]
    t = service.get_conversation("claude:2f6c8a1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b")
    assert t.messages[0].content.endswith("[attachment: quote-cabinets.pdf]")
    assert t.messages[1].content == (
        "Cabinets first: countertops are templated to the installed cabinets, so ordering them first risks a "
        "remeasure.\nThat leaves $8,600 for counters, sink and backsplash."
    )
    assert [m.author for m in t.messages] == ["User", "Claude"]


def test_whatsapp_ios_and_android_exports_with_dates_in_either_order(service):
    result = run(service, FIXTURES / "whatsapp_ios.txt", FIXTURES / "whatsapp_android.txt")
    assert [f.format for f in result.files] == ["whatsapp", "whatsapp"] and result.errors == 0
    page = service.list_conversations(source="whatsapp")
    by_title = {c.title: service.get_conversation(str(c.id)) for c in page.items}
    ios = by_title["whatsapp_ios"].messages
    assert [m.author for m in ios] == ["Kate", "Emi Tanaka", "Kate", "Raj", "Emi Tanaka"], "notices skipped"
    assert ios[2].content.endswith("it has a sauna\nand it's 5 min from the lift")
    assert ios[3].timestamp.isoformat() == "2024-01-13T08:02:11+00:00"  # 13/01: day first
    android = by_title["whatsapp_android"].messages
    assert android[1].timestamp.isoformat() == "2024-01-03T21:31:00+00:00"  # 1/14/24 in the file: month first
    assert android[-1].content == "Cleaning done, no cavities 🎉"


def test_a_re_exported_chat_with_more_turns_appends_only_the_new_ones(service, tmp_path):
    chat = tmp_path / "WhatsApp Chat with Mom.txt"
    lines = (FIXTURES / "whatsapp_android.txt").read_text().splitlines(keepends=True)
    chat.write_text("".join(lines[:4]))
    assert run(service, chat).messages_added == 3
    chat.write_text("".join(lines))
    result = run(service, chat)
    assert result.messages_added == 2 and result.conversations == 1
    assert len(stored(service)) == 1


def test_plain_transcript_keeps_stray_prefixes_inside_messages(service):
    run(service, FIXTURES / "meeting.txt")
    (conv,) = stored(service).values()
    assert [m[1] for m in conv] == ["Alice", "Bob", "Alice", "Bob", "Alice", "Carol", "Carol"]
    assert (
        conv[1][2] == "The landing page is done, copy is final.\nNote: legal still has to approve the pricing footnote."
    )


def test_markdown_chat_keeps_code_blocks_and_takes_its_title(service):
    result = run(service, FIXTURES / "chat.md")
    assert result.files[0].format == "markdown"
    (item,) = service.list_conversations(source="markdown").items
    t = service.get_conversation(str(item.id))
    assert t.title == "Regex for ISO dates"
    assert [(m.author, m.role) for m in t.messages] == [
        ("User", "user"),
        ("Assistant", "assistant"),
        ("User", "user"),
        ("Assistant", "assistant"),
    ]
    assert "```python\nimport re" in t.messages[1].content and "---" not in t.messages[0].content


def test_our_json_lines_report_bad_lines_by_number(service):
    result = run(service, FIXTURES / "support.jsonl")
    assert result.files[0].format == "json"
    assert [e.location for e in result.files[0].errors] == ["support.jsonl:3", "support.jsonl:4"]
    assert result.files[0].errors[0].message == "messages.0.content: Value error, content is empty"
    assert set(stored(service)) == {"ticket-9001", "ticket-9002"}


def test_openai_message_list_reads_content_parts_and_skips_tool_calls(service):
    result = run(service, FIXTURES / "openai_messages.json")
    assert result.files[0].format == "openai" and result.errors == 0
    (conv,) = stored(service).values()
    assert [m[1] for m in conv] == ["system", "user", "assistant", "user", "assistant"]
    assert conv[3][2] == "And cherry blossoms?\n[image]"
    assert run(service, FIXTURES / "openai_messages.json").messages_added == 0


def test_a_folder_of_mixed_exports_reports_every_format_it_found(service, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    for name in ("meeting.txt", "support.jsonl", "openai_messages.json"):
        shutil.copy(FIXTURES / name, folder)
    (folder / "notes.html").write_text("<p>not a chat</p>")
    (folder / "settings.json").write_text('{"theme": "dark"}')
    result = run(service, folder)
    assert result.files[0].format == "transcript,openai,json"  # in file-name order
    assert result.conversations == 4


def test_a_file_in_no_known_format_is_an_error_not_a_crash(service, tmp_path):
    odd = tmp_path / "config.yaml"
    odd.write_text("name: app\nversion: 3\n")
    result = run(service, odd, tmp_path / "missing.json")
    assert [f.format for f in result.files] == ["unknown", "unknown"]
    assert "no conversations found in a format we read" in result.files[0].errors[0].message
    assert result.files[1].errors[0].message == "no such file or folder"
    assert result.errors == 2 and stored(service) == {}


def test_forcing_a_format_overrides_detection(service, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Q: what is the SLA?\nA: 99.9% monthly.\n")
    assert run(service, notes).errors == 1  # one line each: not recognisably a chat
    result = run(service, notes, format="transcript")
    assert result.messages_added == 2


def test_a_conversation_with_invalid_fields_stores_nothing_of_itself(service, tmp_path):
    bad = tmp_path / "conversations.json"
    message = [{"uuid": "m1", "text": "hi", "sender": "human"}]
    records = [
        {"uuid": "u-1", "name": "t" * 1001, "chat_messages": message},  # titles are at most 1000 characters
        {"uuid": "u-2", "name": "fine", "chat_messages": message},
    ]
    bad.write_text(json.dumps(records))
    result = run(service, bad)
    assert [e.location for e in result.files[0].errors] == ["conversations.json[0]"]
    assert set(stored(service)) == {"claude:u-2"}


def test_long_transcripts_are_stored_in_parts_that_add_up_to_one_conversation(service, tmp_path):
    from mcp_rag.importers import base

    chat = tmp_path / "long.txt"
    chat.write_text("".join(f"{'Ann' if i % 2 else 'Ben'}: message number {i}\n" for i in range(1, 2502)))
    result = run(service, chat)
    assert result.messages_added == 2501 > base.PART_MESSAGES * 2
    assert result.conversations == 1 and len(stored(service)) == 1


def test_unknown_format_name_is_refused(service):
    import pytest

    from mcp_rag.errors import Invalid

    with pytest.raises(Invalid, match="unknown format 'excel'"):
        run(service, FIXTURES / "meeting.txt", format="excel")
