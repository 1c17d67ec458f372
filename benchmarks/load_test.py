"""Loopback load test: ingest, search and ask mixed against a real `mcp-rag serve`.

Starts its own server on a fresh data dir (or targets --url), runs a bounded
number of concurrent clients for --minutes, and reports per operation the
count, errors, p50 and p95 latency, plus the server's RSS and the PSS of the
server and its embedded PostgreSQL together, sampled every 10 s: memory stays
flat when the end is within 10% of the sample after the warm-up (the first
tenth of the run, at least 30 s).

    python benchmarks/load_test.py --minutes 10            # make load
    python benchmarks/load_test.py --minutes 2 --clients 4 --out benchmarks/results/load_test.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psutil

MCP_RAG = str(Path(sys.executable).with_name("mcp-rag"))
WORDS = (
    "trip boat snow hotel budget launch deadline invoice design review lunch train museum "
    "concert bug deploy database backup weekend coffee book plan friday monday"
).split()
PEOPLE = ["Ana", "Ben", "Kate", "Emi", "Raj"]
MIX = [("search", 6), ("ingest", 2), ("ask", 2)]


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))).capitalize() + "."


def conversation(rng: random.Random, n: int) -> dict:
    return {
        "id": f"load-{n}",
        "title": sentence(rng)[:40],
        "source": rng.choice(["slack", "chatgpt", "email"]),
        "messages": [
            {"id": str(i), "author": rng.choice(PEOPLE), "content": sentence(rng)} for i in range(rng.randint(2, 8))
        ],
    }


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def report(self) -> dict:
        out = {}
        for op in sorted(set(self.latency) | set(self.errors)):
            ms = sorted(x * 1000 for x in self.latency[op])
            out[op] = {
                "ok": len(ms),
                "errors": len(self.errors[op]),
                "p50_ms": round(statistics.median(ms), 1) if ms else None,
                "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1) if ms else None,
                "max_ms": round(ms[-1], 1) if ms else None,
                "first_errors": self.errors[op][:5],
            }
        return out


async def client(http: httpx.AsyncClient, k: int, deadline: float, stats: Stats, counter: list[int]) -> None:
    rng = random.Random(k)
    ops, weights = zip(*MIX, strict=True)
    while time.monotonic() < deadline:
        op = rng.choices(ops, weights)[0]
        started = time.perf_counter()
        try:
            if op == "ingest":
                counter[0] += 1
                r = await http.post("/v1/conversations", json=conversation(rng, counter[0]))
            elif op == "search":
                body = {"query": " ".join(rng.sample(WORDS, 3)), "top_k": 10}
                if rng.random() < 0.3:
                    body["author"] = rng.choice(PEOPLE)
                r = await http.post("/v1/search", json=body)
            else:
                r = await http.post("/v1/ask", json={"question": f"When is the {rng.choice(WORDS)}?", "top_k": 5})
            if r.status_code >= 400:
                stats.errors[op].append(f"{r.status_code} {r.text[:120]}")
            else:
                stats.latency[op].append(time.perf_counter() - started)
        except httpx.HTTPError as exc:
            stats.errors[op].append(f"{type(exc).__name__}: {exc}")


def tree_pss(pid: int, pgdata: Path | None) -> int:
    """PSS in bytes of the server and, for an embedded database, its PostgreSQL processes."""
    procs = [psutil.Process(pid)]
    try:
        if pgdata is not None:
            root = psutil.Process(int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0]))
            procs += [root, *root.children(recursive=True)]
    except (OSError, ValueError, psutil.Error):
        pass
    total = 0
    for proc in procs:
        try:
            total += proc.memory_full_info().pss
        except psutil.Error:
            continue
    return total


async def sample_rss(pid: int, pgdata: Path | None, deadline: float, samples: list[tuple[float, int, int]]) -> None:
    proc = psutil.Process(pid)
    started = time.monotonic()
    while time.monotonic() < deadline:
        samples.append((round(time.monotonic() - started, 1), proc.memory_info().rss, tree_pss(pid, pgdata)))
        await asyncio.sleep(min(10, max(0.1, deadline - time.monotonic())))
    samples.append((round(time.monotonic() - started, 1), proc.memory_info().rss, tree_pss(pid, pgdata)))


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_ENV": "test", "MCP_RAG_RATE_LIMIT_PER_MINUTE": "0"}
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen([MCP_RAG, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited; see {data_dir / 'server.log'}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    sys.exit("server did not become ready")


async def run(
    url: str, pid: int, minutes: float, clients: int, seed_conversations: int, pgdata: Path | None = None
) -> dict:
    stats = Stats()
    counter = [0]
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        rng = random.Random(0)
        for _ in range(seed_conversations):  # something to search from the first second
            counter[0] += 1
            (await http.post("/v1/conversations", json=conversation(rng, counter[0]))).raise_for_status()
        rss: list[tuple[float, int, int]] = []
        deadline = time.monotonic() + minutes * 60
        started = time.monotonic()
        await asyncio.gather(
            sample_rss(pid, pgdata, deadline, rss), *(client(http, k, deadline, stats, counter) for k in range(clients))
        )
        seconds = time.monotonic() - started
    ops = stats.report()
    return {
        "minutes": minutes,
        "clients": clients,
        "seconds": round(seconds, 1),
        "requests": sum(o["ok"] + o["errors"] for o in ops.values()),
        "errors": sum(o["errors"] for o in ops.values()),
        "operations": ops,
        "rss_mb_start": round(rss[0][1] / 2**20, 1),
        "rss_mb_end": round(rss[-1][1] / 2**20, 1),
        "rss_mb_samples": [(t, round(b / 2**20, 1)) for t, b, _ in rss],
        **_flat(rss, seconds),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
    }


def _flat(samples: list[tuple[float, int, int]], seconds: float) -> dict:
    """PSS (server + embedded PostgreSQL) after the warm-up and at the end, and their ratio."""
    warm = next((s for s in samples if s[0] >= max(30.0, seconds / 10)), samples[-1])
    after, end = round(warm[2] / 2**20, 1), round(samples[-1][2] / 2**20, 1)
    return {
        "pss_mb_after_warmup": after,
        "pss_mb_warmup_at_s": warm[0],
        "pss_mb_end": end,
        "pss_end_vs_after_warmup": round(end / after, 3) if after else None,
        "pss_mb_samples": [(t, round(p / 2**20, 1)) for t, _, p in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--url", help="an already running server (its pid via --pid for RSS)")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--seed-conversations", type=int, default=50)
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args()

    data_dir, proc = None, None
    if args.url:
        url, pid = args.url, args.pid or os.getpid()
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="mcp-rag-load-"))
        proc, url = start_server(data_dir)
        pid = proc.pid
    try:
        pgdata = data_dir / "pgdata" if data_dir is not None else None
        report = asyncio.run(run(url, pid, args.minutes, args.clients, args.seed_conversations, pgdata))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    sys.exit(1 if report["errors"] else 0)


if __name__ == "__main__":
    main()
