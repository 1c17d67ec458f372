"""Helpers shared by the bench_*.py scripts: a real server, percentiles, the
machine's load, memory, and JSON results.

The machine these run on is shared: every figure is stored with the load
average seen while it was measured, and the scripts report ratios against a
baseline measured in the same run (absolute numbers move with the load).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MCP_RAG = str(Path(sys.executable).with_name("mcp-rag"))
REALTALK = Path(os.environ.get("REALTALK") or ROOT.parent / "shared" / "data" / "realtalk")  # as `make eval`


def load_average() -> float:
    """The 1-minute load average: on this shared 2-core machine, context for every figure."""
    return round(os.getloadavg()[0], 2)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_average_at_start": load_average(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `mcp-rag serve` on a loopback port, its log beside its data dir."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / f"server-{self.port}.log"
        full_env = {
            **os.environ,
            "MCP_RAG_DATA_DIR": str(data_dir),
            "MCP_RAG_ENV": "test",
            "MCP_RAG_RATE_LIMIT_PER_MINUTE": "0",  # the benchmark is the only client
            "MCP_RAG_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [MCP_RAG, "serve", "--port", str(self.port)],
            env=full_env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 120) -> float:
        """Seconds from spawning the process to the first `/ready` 200."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
                try:
                    if http.get(f"{self.url}/ready").status_code == 200:
                        return time.perf_counter() - self.started
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        raise RuntimeError(f"server did not become ready: {self.log.read_text()[-2000:]}")

    def rss_mb(self) -> float:
        return round(psutil.Process(self.proc.pid).memory_info().rss / 2**20, 1)

    def cpu_seconds(self) -> float:
        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def postgres_memory_mb(pgdata: Path) -> float | None:
    """Proportional set size (shared buffers counted once) of the postmaster serving pgdata and its backends."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
        return round(sum(p.memory_full_info().pss for p in procs) / 2**20, 1)
    except (OSError, ValueError, psutil.Error):
        return None


def postgres_cpu_seconds(pgdata: Path) -> float:
    """CPU seconds of the postmaster serving pgdata and its live backends (pooled, so they persist)."""
    try:
        root = psutil.Process(int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0]))
        procs = [root, *root.children(recursive=True)]
    except (OSError, ValueError, psutil.Error):
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    result = {"benchmark": name, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), **result}
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def write_experiment(name: str, experiment: str, result: dict) -> Path:
    """Store `result` as `experiment` inside benchmarks/results/NAME.json, keeping the file's
    other experiments: one current file per benchmark, one entry per question it answered."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = json.loads(path.read_text()) if path.exists() else {"benchmark": name, "experiments": {}}
    entry = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), **result}
    data.setdefault("experiments", {})[experiment] = entry
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def realtalk_texts(names: tuple[str, ...] | None = None) -> list:
    """REALTALK conversations (benchmarks/realtalk.py), all or the named ones."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import realtalk

    convs = realtalk.load(REALTALK, "all")
    return [c for c in convs if names is None or c.name in names]
