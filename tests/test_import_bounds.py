"""Imports are bounded: a zip bomb is refused before it is unpacked, a string past the
per-message limit is cut while streaming, error lists are capped, a stop signal or a
client leaving ends the work, and an embedded PostgreSQL never outlives its users."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from server import Server
from test_import import run, stored

from mcp_rag.importers.bounds import Bounds, TooLarge

MiB = 1024 * 1024


def zip_bomb(path: Path, expanded: int = 1024 * MiB) -> Path:
    """One member: a conversation whose only message is a JSON string of `expanded` bytes of "a"
    (deflate packs it about 1,000 to 1)."""
    head, tail = b'[{"id": "bomb", "messages": [{"content": "', b'"}]}]'
    block = b"a" * MiB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("conversations.json", "w", force_zip64=True) as f:
            f.write(head)
            for _ in range(expanded // MiB):
                f.write(block)
            f.write(tail)
    return path


def conversation(cid: str, *texts: str, **fields) -> dict:
    return {"id": cid, **fields, "messages": [{"id": str(i), "content": t} for i, t in enumerate(texts, 1)]}


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    return zip_bomb(tmp_path_factory.mktemp("bomb") / "export.zip")


@pytest.fixture
def home() -> Iterator[Path]:
    """A data dir of its own for a server subprocess (see test_reliability_crash.home)."""
    path = Path(tempfile.mkdtemp(prefix="mcp-rag-bounds-"))
    yield path
    try:
        psutil.Process(postmaster_pid(path / "pgdata")).terminate()
    except (psutil.Error, OSError, ValueError):
        pass
    time.sleep(1)
    shutil.rmtree(path, ignore_errors=True)


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


# -- zip bombs -------------------------------------------------------------------------------


def test_a_zip_bomb_upload_is_refused_with_413_in_seconds_and_flat_memory(home, bomb):
    assert bomb.stat().st_size < 2 * MiB
    server = Server(home).wait_ready(180)
    try:
        proc = psutil.Process(server.proc.pid)
        before = proc.memory_info().rss
        started = time.monotonic()
        with bomb.open("rb") as f:
            r = httpx.post(f"{server.url}/v1/import", files={"files": ("export.zip", f)}, timeout=60)
        elapsed = time.monotonic() - started
        grown = proc.memory_info().rss - before
        assert r.status_code == 413, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "MCP_RAG_IMPORT_MAX_RATIO" in r.json()["detail"] and "conversations.json" in r.json()["detail"]
        assert elapsed < 10, f"took {elapsed:.1f} s"
        assert grown < 100 * MiB, f"server memory grew {grown / MiB:.0f} MiB"
        assert httpx.get(f"{server.url}/v1/conversations").json()["items"] == []
    finally:
        server.stop()


def test_each_bound_names_its_setting(tmp_path):
    ok = tmp_path / "ok.zip"
    with zipfile.ZipFile(ok, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.json", json.dumps([conversation("a", "hello " * 2000)]))
        z.writestr("b.json", json.dumps([conversation("b", "world " * 2000)]))
    roomy = Bounds(member_bytes=10 * MiB, archive_bytes=100 * MiB, ratio=100)
    roomy.check_path(ok, "ok.zip")
    roomy.check_path(tmp_path, "folder")  # zips below a folder are checked as well
    with pytest.raises(TooLarge, match="MCP_RAG_IMPORT_MAX_MEMBER_BYTES"):
        Bounds(member_bytes=5000, archive_bytes=100 * MiB, ratio=100).check_path(tmp_path, "folder")
    with pytest.raises(TooLarge, match="MCP_RAG_IMPORT_MAX_ARCHIVE_BYTES"):
        Bounds(member_bytes=10 * MiB, archive_bytes=20_000, ratio=100).check_path(ok, "ok.zip")


def test_a_bomb_inside_an_export_zip_is_a_file_error_and_the_rest_imports(service, tmp_path):
    inner = zip_bomb(tmp_path / "inner.zip", expanded=64 * MiB)
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_STORED) as z:
        z.write(inner, "nested/inner.zip")
        z.writestr("good.json", json.dumps([conversation("good", "a fine message")]))

    result = run(service, outer)

    assert [e.location for e in result.files[0].errors] == ["outer.zip:nested/inner.zip"]
    assert "MCP_RAG_IMPORT_MAX_RATIO" in result.files[0].errors[0].message
    assert set(stored(service)) == {"good"}


# -- strings past the per-message limit --------------------------------------------------------


@pytest.mark.parametrize("shape", ["array", "lines"])
def test_a_string_past_the_message_limit_is_refused_while_streaming_and_the_rest_imports(service, tmp_path, shape):
    huge = "x" * (40 * MiB)
    records = [conversation("before", "first"), conversation("huge", huge), conversation("after", "last")]
    path = tmp_path / ("export.json" if shape == "array" else "export.jsonl")
    path.write_text(json.dumps(records) if shape == "array" else "\n".join(json.dumps(r) for r in records))
    del huge, records

    started = time.monotonic()
    result = run(service, path, format="json")

    assert time.monotonic() - started < 30
    assert set(stored(service)) == {"before", "after"}
    [error] = result.files[0].errors
    assert "longer than 200,000 characters; cut while reading, not stored" in error.message
    assert error.location == ("export.json[1]" if shape == "array" else "export.jsonl:2")


def test_a_long_message_under_the_limit_is_stored_whole(service, tmp_path):
    text = "é" * 199_000  # 2 bytes each in UTF-8, 6 escaped: both under the cut
    path = tmp_path / "export.json"
    path.write_text(json.dumps([conversation("long", text)], ensure_ascii=True))

    run(service, path)

    assert stored(service)["long"][0][2] == text


def test_a_transcript_line_past_the_message_limit_is_refused_not_held(service, tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text("Ann: hello there\nBen: " + "word " * 2_000_000 + "\nAnn: see you friday\nBen: bye\n")

    result = run(service, path, format="transcript")

    [error] = result.files[0].errors
    assert "longer than 200,000 characters; cut while reading" in error.message
    contents = [m[2] for messages in stored(service).values() for m in messages]
    assert "see you friday" in contents and all(len(c) < 1000 for c in contents)


# -- error lists ---------------------------------------------------------------------------


def test_the_error_list_keeps_the_first_100_with_locations_and_the_total(client, tmp_path):
    bad = [{"id": f"c{i}", "messages": []} for i in range(250)]
    body = json.dumps([*bad, conversation("ok", "fine")]).encode()

    r = client.post("/v1/import", files=[("files", ("export.json", body, "application/json"))])

    assert r.status_code == 200, r.text
    report = r.json()
    [file] = report["files"]
    assert file["error_count"] == 250 and report["errors"] == 250
    assert [e["location"] for e in file["errors"]] == [f"export.json[{i}]" for i in range(100)]
    assert file["conversations"] == 1


def test_the_cli_prints_the_first_errors_and_how_many_more(service, data_dir, tmp_path):
    import subprocess
    import sys

    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": f"c{i}", "messages": []} for i in range(130)]))
    cli = Path(sys.executable).with_name("mcp-rag")
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_ENV": "test"}
    done = subprocess.run([str(cli), "import", str(path)], env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode != 0
    assert done.stderr.count("\nfailed ") == 100
    assert "and 30 more failed in" in done.stderr
    assert "130 failed" in done.stdout


# -- zip member names ------------------------------------------------------------------------


def test_zip_members_with_absolute_or_parent_paths_are_reported_per_file(service, tmp_path):
    archive = tmp_path / "export.zip"
    body = json.dumps([conversation("sneaky", "hello")])
    names = ["../up.json", "..\\..\\x.json", "/etc/abs.json", "\\abs.json", "C:\\win.json", "a/../../b.json"]
    with zipfile.ZipFile(archive, "w") as z:
        for name in names:
            z.writestr(zipfile.ZipInfo(name), body)
        z.writestr("good.json", json.dumps([conversation("good", "fine")]))

    result = run(service, archive)

    errors = result.files[0].errors
    assert sorted(e.location for e in errors) == sorted(f"export.zip:{n}" for n in names)
    assert all("unsafe path" in e.message for e in errors)
    assert result.errors == len(names)
    assert set(stored(service)) == {"good"}


# -- stopping --------------------------------------------------------------------------------


def big_export(path: Path, conversations: int = 400, messages: int = 100) -> Path:
    with path.open("w") as f:
        for c in range(conversations):
            turns = [f"conversation {c} turn {i}: the release train leaves on friday" for i in range(messages)]
            f.write(json.dumps(conversation(f"big-{c}", *turns)) + "\n")
    return path


def stored_messages(url: str) -> int:
    page = httpx.get(f"{url}/v1/conversations", params={"limit": 1000}, timeout=30).json()
    return sum(c["message_count"] for c in page["items"])


def test_sigterm_during_a_big_import_stops_the_server_and_its_postgres_within_10_s(home, tmp_path):
    export = big_export(tmp_path / "big.jsonl")
    server = Server(home).wait_ready(180)
    reply: list[httpx.Response | Exception] = []

    def upload() -> None:
        try:
            with export.open("rb") as f:
                reply.append(httpx.post(f"{server.url}/v1/import", files={"files": ("big.jsonl", f)}, timeout=120))
        except httpx.HTTPError as exc:
            reply.append(exc)

    client = threading.Thread(target=upload)
    client.start()
    try:
        deadline = time.monotonic() + 120
        while stored_messages(server.url) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)  # the import is under way: conversations are being stored
        postmaster = postmaster_pid(home / "pgdata")

        server.proc.send_signal(signal.SIGTERM)

        assert gone_within(server.proc.pid, 10), "the server still runs 10 s after SIGTERM"
        assert gone_within(postmaster, 10), "its embedded PostgreSQL still runs 10 s after SIGTERM"
        client.join(30)
        assert reply and (isinstance(reply[0], httpx.HTTPError) or reply[0].status_code == 503), reply
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
        client.join(30)


def test_an_import_stops_when_its_client_disconnects(home, tmp_path):
    export = big_export(tmp_path / "big.jsonl")
    server = Server(home).wait_ready(180)
    try:

        def upload() -> None:
            with export.open("rb") as f, pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{server.url}/v1/import", files={"files": ("big.jsonl", f)}, timeout=8)

        client = threading.Thread(target=upload)
        client.start()
        client.join(60)  # the client gives up after 8 s without a reply and closes its connection
        time.sleep(3)  # the import notices at its next record
        after_disconnect = stored_messages(server.url)
        time.sleep(5)
        assert stored_messages(server.url) == after_disconnect, "the import went on after its client left"
        assert after_disconnect < 400 * 100
    finally:
        server.stop()


def watchdog_of(pgdata: Path) -> psutil.Process:
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info["cmdline"] or []
        if any("watchdog" in a for a in argv) and str(pgdata.resolve()) in argv:
            return proc
    raise AssertionError(f"no watchdog runs for {pgdata}")


def test_an_embedded_postgres_whose_users_all_died_is_stopped(home):
    server = Server(home).wait_ready(180)
    postmaster = postmaster_pid(home / "pgdata")
    # It lives as long as PostgreSQL: an interpreter on the standard library alone, nothing
    # from site-packages (psutil, the wheel, this package) mapped into it.
    mapped = {m.path for m in watchdog_of(home / "pgdata").memory_maps()}
    assert not [path for path in mapped if "site-packages" in path], mapped

    server.proc.send_signal(signal.SIGKILL)  # no exit hook runs: nobody is left to stop PostgreSQL
    server.proc.wait(10)

    assert gone_within(postmaster, 15), "the embedded PostgreSQL outlived every process using it"
