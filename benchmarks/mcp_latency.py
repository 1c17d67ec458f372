"""How fast `mcp-rag mcp` answers over stdio: start-up and search latency.

Prints, and writes to benchmarks/results/mcp_latency.json,
  - process start -> `initialize` result, median of N fresh processes (target
    <= 1 s), beside the same figure for a bare SDK server with no tools: the
    floor that importing the `mcp` SDK sets on this machine. The two are
    started alternately, so both see the same load; the difference is what
    our code adds;
  - median and p95 latency of `search_conversations` on a warm server (the
    database started and the embedding model loaded by earlier calls);
  - the same handshake over streamable HTTP at /mcp of a running `mcp-rag
    serve`: a new client session's `initialize`, median of N sessions (the
    server process, and so the SDK import, is already paid for).

With --instructions, each server's start -> `initialize` -> exit also runs once
under valgrind (cachegrind): the instructions it executes do not move with the
machine's load, so that ratio is the one to compare across runs and commits.

Runs against a throw-away data dir; nothing touches the network.

    python benchmarks/mcp_latency.py [--runs 10] [--searches 30] [--startup-only] [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import Server, load_average, write_experiment  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MCP_RAG = str(Path(sys.executable).with_name("mcp-rag"))
BARE_SERVER = "from mcp.server.mcpserver import MCPServer; MCPServer('bare').run('stdio')"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
}
QUERIES = [
    "when is Kate going skiing",
    "which resort",
    "charged twice refund",
    "who is driving to the mountains",
    "password reset email never arrived",
]


def time_to_initialize(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawning `command` to reading its answer to `initialize` on stdout,
    and the CPU seconds the process used in all (what the wall time would be on an idle machine)."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        proc.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
        proc.stdin.flush()
        reply = json.loads(proc.stdout.readline())
        elapsed = time.perf_counter() - started
        assert reply["id"] == 0 and "result" in reply, reply
    finally:
        proc.stdin.close()
        proc.wait(30)
    return elapsed, _children_cpu() - cpu_before


def instructions_to_initialize(command: list[str], env: dict[str, str]) -> int:
    """Instructions executed by `command` from start through `initialize` to its exit when stdin closes."""
    valgrind = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    done = subprocess.run(
        valgrind + command, input=json.dumps(INITIALIZE) + "\n", capture_output=True, text=True, env=env, timeout=600
    )
    assert '"result"' in done.stdout, done.stderr[-2000:]
    return int(re.search(r"I\s+refs:\s+([\d,]+)", done.stderr).group(1).replace(",", ""))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def conversations() -> list[dict]:
    """The example conversations, as `ingest_conversation` arguments."""
    records = [json.loads((ROOT / "examples/ski-trip.json").read_text())]
    records += [json.loads(line) for line in (ROOT / "examples/support-chat.jsonl").read_text().splitlines() if line]
    return [
        {"conversation_id": r["id"], "title": r.get("title"), "source": r.get("source"), "messages": r["messages"]}
        for r in records
    ]


async def search_latencies(env: dict[str, str], searches: int) -> list[float]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=MCP_RAG, args=["mcp"], env=env)
    async with Client(params, mode="legacy", read_timeout_seconds=300) as client:
        for args in conversations():
            result = await client.call_tool("ingest_conversation", args)
            assert not result.is_error, result.content
        for query in QUERIES:  # warm: database pool, model, caches
            await client.call_tool("search_conversations", {"query": query, "top_k": 10})
        latencies = []
        for i in range(searches):
            started = time.perf_counter()
            result = await client.call_tool("search_conversations", {"query": QUERIES[i % len(QUERIES)], "top_k": 10})
            latencies.append(time.perf_counter() - started)
            assert not result.is_error and result.structured_content["hits"], result.content
        return latencies


async def http_initialize(url: str, runs: int) -> list[float]:
    """Seconds for a new SDK client session to finish `initialize` against /mcp."""
    from mcp import Client

    times = []
    for _ in range(runs + 1):  # the first session warms the server's MCP app; not counted
        started = time.perf_counter()
        async with Client(f"{url}/mcp", mode="legacy", read_timeout_seconds=60) as client:  # legacy: a real initialize
            times.append(time.perf_counter() - started)
            assert client.server_info is not None and client.protocol_version, "no handshake"
    return times[1:]


def startup(env: dict[str, str], runs: int, instructions: bool = False) -> dict:
    """Start -> `initialize` of `mcp-rag mcp` and of the bare SDK server, alternating run by run."""
    commands = {"mcp_rag": [MCP_RAG, "mcp"], "bare_sdk": [sys.executable, "-c", BARE_SERVER]}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    load_before = load_average()
    for i in range(runs):
        for name in sorted(commands, reverse=i % 2 == 1):  # who goes first alternates too
            times[name].append(time_to_initialize(commands[name], env))
    out: dict = {"runs": runs, "load_average": [load_before, load_average()]}
    for name, pairs in times.items():
        wall, cpu = [p[0] for p in pairs], [p[1] for p in pairs]
        out[name] = {
            "median_s": round(statistics.median(wall), 3),
            "min_s": round(min(wall), 3),
            "cpu_median_s": round(statistics.median(cpu), 3),
            "runs_s": [round(w, 3) for w in wall],
        }
    ours, bare = out["mcp_rag"], out["bare_sdk"]
    out["added_by_mcp_rag_s"] = round(ours["median_s"] - bare["median_s"], 3)
    out["ratio_to_bare"] = round(ours["median_s"] / bare["median_s"], 3)
    if instructions:
        for name, command in commands.items():
            out[name]["instructions"] = instructions_to_initialize(command, env)
        out["instructions_ratio_to_bare"] = round(ours["instructions"] / bare["instructions"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="fresh processes of each server to time")
    parser.add_argument("--searches", type=int, default=30, help="timed searches on the warm server")
    parser.add_argument("--startup-only", action="store_true", help="only the stdio start -> initialize figures")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (needs valgrind)")
    args = parser.parse_args()
    if args.instructions and not shutil.which("valgrind"):
        parser.error("--instructions needs valgrind")

    result: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="mcp-rag-bench-") as data_dir:
        env = {**os.environ, "MCP_RAG_DATA_DIR": data_dir, "MCP_RAG_ENV": "test"}
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
        result["stdio_initialize"] = s = startup(env, args.runs, args.instructions)
        for name, label in (("mcp_rag", "mcp-rag mcp"), ("bare_sdk", "bare SDK server")):
            r = s[name]
            print(
                f"start -> initialize, {label + ':':16} median {r['median_s']:.3f} s wall (min {r['min_s']:.3f}), "
                f"{r['cpu_median_s']:.3f} s CPU (wall runs: {', '.join(f'{t:.2f}' for t in r['runs_s'])})"
            )
        print(
            f"mcp-rag adds {s['added_by_mcp_rag_s']:+.3f} s to the bare SDK server ({s['ratio_to_bare']:.2f}x), "
            f"{args.runs} runs each, interleaved, load average {s['load_average'][0]:.2f} -> {s['load_average'][1]:.2f}"
        )
        if args.instructions:
            print(
                f"instructions, start -> initialize -> exit: mcp-rag mcp {s['mcp_rag']['instructions'] / 1e9:.3f} G, "
                f"bare SDK server {s['bare_sdk']['instructions'] / 1e9:.3f} G ({s['instructions_ratio_to_bare']:.3f}x)"
            )
        print("target: <= 1 s wall for mcp-rag mcp")
        if not args.startup_only:
            server = Server(Path(data_dir))
            try:
                server.wait_ready()
                handshakes = anyio.run(http_initialize, server.url, max(args.runs, 10))
            finally:
                server.stop()
            print(
                f"initialize over streamable HTTP (running serve, new client session): median "
                f"{statistics.median(handshakes) * 1000:.1f} ms, max {max(handshakes) * 1000:.1f} ms "
                f"({len(handshakes)} sessions)"
            )
            result["http_initialize_ms"] = {
                "median": round(statistics.median(handshakes) * 1000, 1),
                "max": round(max(handshakes) * 1000, 1),
                "sessions": len(handshakes),
            }
            latencies = sorted(anyio.run(search_latencies, env, args.searches))
            p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
            print(
                f"search_conversations over stdio, warm: median {statistics.median(latencies) * 1000:.1f} ms, "
                f"p95 {p95 * 1000:.1f} ms ({len(latencies)} calls, top_k 10)"
            )
            result["stdio_search_ms"] = {
                "median": round(statistics.median(latencies) * 1000, 1),
                "p95": round(p95 * 1000, 1),
                "calls": len(latencies),
            }
    result["load_average_at_end"] = load_average()
    experiment = "startup_only" if args.startup_only else "startup_and_search"
    print(f"wrote {write_experiment('mcp_latency', experiment, result)}")


if __name__ == "__main__":
    main()
