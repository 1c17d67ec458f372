"""The import doors: `mcp-rag import`, POST /v1/import and the MCP tool import_conversations.

Each door parses, calls the service's import and formats the same report;
the MCP tool may read only below MCP_RAG_IMPORT_ROOTS.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp_scenario import call, call_error

from mcp_rag import auth
from mcp_rag.mcp import build_server
from mcp_rag.service import Service

FIXTURES = Path(__file__).parent / "fixtures" / "import"
MCP_RAG = str(Path(sys.executable).with_name("mcp-rag"))


@pytest.fixture
def cli(service, data_dir):
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_ENV": "test"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([MCP_RAG, "import", *args], capture_output=True, text=True, timeout=300, env=env)

    return run


def test_cli_imports_files_and_folders_then_skips_them_on_a_re_run(cli):
    paths = [str(FIXTURES / "slack_export"), str(FIXTURES / "chatgpt" / "conversations.json")]
    first = cli(*paths)
    assert first.returncode == 0, first.stderr
    assert f"{paths[0]} (slack): 4 conversations, 7 messages added, 0 already stored, 0 failed" in first.stdout
    assert f"{paths[1]} (chatgpt): 2 conversations, 5 messages added" in first.stdout
    again = cli(*paths)
    assert f"{paths[0]} (slack): 0 conversations, 0 messages added, 4 already stored, 0 failed" in again.stdout
    assert again.returncode == 0


def test_cli_lists_bad_records_with_locations_and_exits_1(cli):
    bad = str(FIXTURES / "support.jsonl")
    r = cli(bad)
    assert r.returncode == 1
    assert f"failed {bad}:3: messages.0.content: Value error, content is empty" in r.stderr
    assert f"failed {bad}:4: not valid JSON" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_usage_mistakes_exit_2_with_one_line(cli):
    r = cli("/no/such/export.zip")
    assert r.returncode == 2 and "no such file or folder: /no/such/export.zip" in r.stderr
    r = cli(str(FIXTURES / "meeting.txt"), "--format", "excel")
    assert r.returncode == 2 and "unknown format 'excel'" in r.stderr and "Traceback" not in r.stderr


def slack_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for file in sorted((FIXTURES / "slack_export").rglob("*.json")):
            z.write(file, file.relative_to(FIXTURES / "slack_export").as_posix())
    return buffer.getvalue()


def test_rest_import_takes_several_files_and_reports_each(client):
    files = [
        ("files", ("acme-slack.zip", slack_zip(), "application/zip")),
        (
            "files",
            ("conversations.json", (FIXTURES / "claude" / "conversations.json").read_bytes(), "application/json"),
        ),
        ("files", ("notes.bin", b"\x00\x01\x02 binary junk", "application/octet-stream")),
    ]
    r = client.post("/v1/import", files=files)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(f["name"], f["format"], f["conversations"], f["messages_added"]) for f in body["files"]] == [
        ("acme-slack.zip", "slack", 4, 7),
        ("conversations.json", "claude", 2, 4),
        ("notes.bin", "unknown", 0, 0),
    ]
    assert body["files"][1]["errors"] == [
        {"location": "conversations.json[1].chat_messages[2]", "message": "unknown sender 'alien'"}
    ]
    assert body["files"][2]["errors"][0]["location"] == "notes.bin"
    assert (body["conversations"], body["messages_added"], body["errors"]) == (6, 11, 2)
    assert set(body["files"][0]) == {
        "name",
        "format",
        "conversations",
        "messages_added",
        "skipped",
        "errors",
        "error_count",
    }

    again = client.post("/v1/import", files=files[:1]).json()
    assert again["files"][0]["skipped"] == 4 and again["messages_added"] == 0


def test_rest_import_without_files_is_a_422_problem(client):
    r = client.post("/v1/import", data={"format": "slack"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def test_rest_import_with_an_unknown_format_is_a_422_problem(client):
    r = client.post("/v1/import", files=[("files", ("a.txt", b"A: hi\nB: yo\n", "text/plain"))], data={"format": "x"})
    assert r.status_code == 422 and "unknown format 'x'" in r.json()["detail"]


def test_rest_import_needs_the_write_scope_and_stores_into_the_tokens_namespace(client, service):
    reader = auth.create_token(service, "team-a", "read").token
    writer = auth.create_token(service, "team-a", "read,write").token
    upload = [("files", ("meeting.txt", (FIXTURES / "meeting.txt").read_bytes(), "text/plain"))]
    denied = client.post("/v1/import", files=upload, headers={"authorization": f"Bearer {reader}"})
    assert denied.status_code == 403
    ok = client.post("/v1/import", files=upload, headers={"authorization": f"Bearer {writer}"})
    assert ok.status_code == 200 and ok.json()["messages_added"] == 7
    assert service.list_conversations("team-a").items[0].source == "transcript"
    assert service.list_conversations("default").items == []


@pytest.fixture(scope="module")
def rooted(settings, tmp_path_factory):
    """A service whose import roots hold one folder of exports (and a symlink pointing out of it)."""
    root = tmp_path_factory.mktemp("import-root")
    (root / "chats").mkdir()
    (root / "chats" / "meeting.txt").write_text((FIXTURES / "meeting.txt").read_text())
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.md").write_text((FIXTURES / "chat.md").read_text())
    (root / "escape").symlink_to(outside)
    (root / "chats" / "linked.md").symlink_to(outside / "secret.md")
    svc = Service(settings.model_copy(update={"import_roots": [root]}))
    yield svc, root, outside
    svc.close()


def mcp(svc: Service, *steps) -> None:
    async def main() -> None:
        async with Client(build_server(lambda: svc, svc.settings)) as client:
            for step in steps:
                await step(client)

    anyio.run(main)


def test_mcp_tool_imports_below_the_roots_and_skips_links_leading_out(service, rooted):
    svc, root, _ = rooted

    async def step(client):
        seen = []

        async def progress(done, total, message):
            seen.append((done, total, message))

        result = await client.call_tool("import_conversations", {"path": "chats"}, progress_callback=progress)
        run = result.structured_content  # a relative path: from the first root
        assert run["complete"] is True and run["progress"]["messages"] == 7
        assert [(f["format"], f["messages_added"]) for f in run["result"]["files"]] == [("transcript", 7)]
        assert seen and seen[-1][0] == seen[-1][1] and "1 conversations, 7 messages" in seen[-1][2]

    mcp(svc, step)
    assert [c.source for c in service.list_conversations().items] == ["transcript"], "linked.md was not read"


def test_mcp_tool_refuses_paths_outside_the_roots_even_through_symlinks(service, rooted):
    svc, root, outside = rooted

    async def step(client):
        for path in (str(outside / "secret.md"), str(root / "escape" / "secret.md"), "../../etc/passwd", "/etc"):
            message = await call_error(client, "import_conversations", path=path)
            assert "Forbidden: " in message and "outside the import roots" in message

    mcp(svc, step)
    assert service.list_conversations().items == []


def test_mcp_import_tools_are_not_listed_when_no_roots_are_configured(service):
    async def step(client):
        listed = {t.name for t in (await client.list_tools()).tools}
        assert "import_conversations" not in listed and "import_status" not in listed
        result = await client.call_tool("import_conversations", {"path": str(FIXTURES / "meeting.txt")})
        assert result.is_error

    mcp(service, step)


def test_mcp_tool_caps_the_error_list_and_refuses_a_zip_past_the_bounds(service, rooted):
    import json

    svc, root, _ = rooted
    (root / "bad.json").write_text(json.dumps([{"id": f"c{i}", "messages": []} for i in range(150)]))
    with zipfile.ZipFile(root / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("conversations.json", "[" + " " * (8 * 1024 * 1024) + "]")

    async def step(client):
        result = (await call(client, "import_conversations", path="bad.json"))["result"]
        assert len(result["files"][0]["errors"]) == 100 and result["files"][0]["error_count"] == 150
        assert result["errors"] == 150
        message = await call_error(client, "import_conversations", path="bomb.zip")
        assert "MCP_RAG_IMPORT_MAX_RATIO" in message

    mcp(svc, step)
    assert service.list_conversations().items == []
