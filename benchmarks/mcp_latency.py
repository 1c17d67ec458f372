"""How fast `mcp-rag mcp` answers over stdio: start-up and search latency.

Prints
  - process start -> `initialize` result, median of N fresh processes (target
    < 1 s), beside the same figure for a bare SDK server with no tools: the
    floor that importing the `mcp` SDK sets on this machine;
  - median and p95 latency of `search_conversations` on a warm server (the
    database started and the embedding model loaded by earlier calls);
  - the same handshake over streamable HTTP at /mcp of a running `mcp-rag
    serve`: a new client session's `initialize`, median of N sessions (the
    server process, and so the SDK import, is already paid for).

Runs against a throw-away data dir; nothing touches the network.

    python benchmarks/mcp_latency.py [--runs 5] [--searches 30]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import Server  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes to time the handshake of")
    parser.add_argument("--searches", type=int, default=30, help="timed searches on the warm server")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mcp-rag-bench-") as data_dir:
        env = {**os.environ, "MCP_RAG_DATA_DIR": data_dir, "MCP_RAG_ENV": "test"}
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
        for name, command in (
            ("mcp-rag mcp", [MCP_RAG, "mcp"]),
            ("bare SDK server", [sys.executable, "-c", BARE_SERVER]),
        ):
            runs = [time_to_initialize(command, env) for _ in range(args.runs)]
            wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
            print(
                f"start -> initialize, {name + ':':16} median {statistics.median(wall):.3f} s wall, "
                f"{statistics.median(cpu):.3f} s CPU (wall runs: {', '.join(f'{t:.2f}' for t in wall)})"
            )
        print("target: < 1 s wall for mcp-rag mcp")
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
        latencies = sorted(anyio.run(search_latencies, env, args.searches))
        p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
        print(
            f"search_conversations over stdio, warm: median {statistics.median(latencies) * 1000:.1f} ms, "
            f"p95 {p95 * 1000:.1f} ms ({len(latencies)} calls, top_k 10)"
        )


if __name__ == "__main__":
    main()
