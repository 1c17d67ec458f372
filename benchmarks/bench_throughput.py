"""Search throughput at 100k chunks: requests/s at p95 <= 100 ms, against the
query-embedding ceiling.

A closed loop of 16 clients (each sends its next request when the last one
returns) measures how fast the server drains a queue, not the rate it can serve
within a latency budget. So the headline here is **open loop**: requests arrive
at a fixed mean rate (Poisson arrivals, seeded) over 16 client connections, and
each request's latency counts from its scheduled arrival (queueing for a free
connection included: no coordinated omission). The rate steps up until p95
exceeds 100 ms twice in a row; the answer is the highest offered rate whose p95,
and every lower step's, stayed within 100 ms, with the achieved req/s there.

Three servers run on the same database (the cached `bench_search.py` build,
reused, never rebuilt or migrated here), one per `MCP_RAG_QUERY_MODEL_CALLS`:
2 (the default: two query embeddings at once, later ones batched behind them),
1 (one at a time, the rest batched) and 0 (no batching: before). Every step
runs on each, back to back, order rotating, so all see the same load, each with
its own questions. Also in the same run: the closed-loop 16-client figure for
each, and the bare query-embedding rate in this process (one query per call,
and 16 per call) as the ceiling. Per step, the server's own model calls
(/metrics) give the mean batch, and server + PostgreSQL CPU seconds the CPU
per request, which moves far less with the machine's load than latency does.

    python benchmarks/bench_throughput.py            # all three arms, 20 s steps: ~10 min
    python benchmarks/bench_throughput.py --quick    # make bench: default vs off, 8 s steps, x1.5: ~3 min
    python benchmarks/bench_throughput.py --arms batch1,unbatched --start-rate 10 --step-seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import Server, load_average, postgres_cpu_seconds, summary_ms, write_result  # noqa: E402
from bench_search import TOP_K, concurrent, ensure_built, questions  # noqa: E402

BUDGET_MS = 100.0
CONNECTIONS = 16
# MCP_RAG_QUERY_MODEL_CALLS per arm: the default (two model calls at once, the rest batched behind them),
# one call at a time (everything else batched), and no limit (each query its own call: no batching).
ARMS = {"batch2": "2", "batch1": "1", "unbatched": "0"}


class QueryStream:
    """Distinct questions for the whole run: no query-cache hits."""

    def __init__(self) -> None:
        self.base = questions()
        self.next = 0

    def take(self, n: int) -> list[str]:
        out = []
        for k in range(self.next, self.next + n):
            q = self.base[k % len(self.base)]
            out.append(q if k < len(self.base) else f"{q} {k // len(self.base)}")
        self.next += n
        return out


def model_calls(url: str) -> tuple[float, float]:
    """(embedding calls, texts embedded) so far, from the server's Prometheus histogram."""
    calls = texts = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("mcp_rag_embedding_batch_size_count"):
            calls = float(line.split()[-1])
        elif line.startswith("mcp_rag_embedding_batch_size_sum"):
            texts = float(line.split()[-1])
    return calls, texts


async def open_loop(url: str, rate: float, seconds: float, queries: list[str], seed: int) -> dict:
    """Poisson arrivals at `rate`/s for `seconds` over CONNECTIONS connections; latency from scheduled arrival."""
    rng = random.Random(seed)
    arrivals, t = [], rng.expovariate(rate)
    while t < seconds and len(arrivals) < len(queries):
        arrivals.append(t)
        t += rng.expovariate(rate)
    lat: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        start = loop.time()
        last = start

        async def one(at: float, query: str) -> None:
            nonlocal errors, last
            await asyncio.sleep(max(0.0, start + at - loop.time()))
            try:
                resp = await http.post("/v1/search", json={"query": query, "top_k": TOP_K})
                resp.raise_for_status()
            except httpx.HTTPError:
                errors += 1
                return
            now = loop.time()
            lat.append(now - (start + at))
            last = max(last, now)

        await asyncio.gather(*(one(at, q) for at, q in zip(arrivals, queries, strict=False)))
    elapsed = max(seconds, last - start)
    return {"offered_per_s": rate, "sent": len(arrivals), "achieved_per_s": round(len(lat) / elapsed, 1),
            "errors": errors, **summary_ms(lat)}  # fmt: skip


class Cost:
    """Model calls and CPU (server + its PostgreSQL) spent on a server between start() and per_request(n).
    CPU per request moves much less with the machine's load than latency does."""

    def __init__(self, server: Server):
        self.server = server
        self.pgdata = server.log.parent / "pgdata"

    def start(self) -> None:
        self.calls, self.texts = model_calls(self.server.url)
        self.cpu, self.pg = self.server.cpu_seconds(), postgres_cpu_seconds(self.pgdata)

    def per_request(self, n: int) -> dict:
        calls, texts = model_calls(self.server.url)
        calls, texts, n = calls - self.calls, texts - self.texts, max(1, n)
        server_ms = 1000 * (self.server.cpu_seconds() - self.cpu) / n
        pg_ms = 1000 * (postgres_cpu_seconds(self.pgdata) - self.pg) / n
        return {
            "model_calls_per_request": round(calls / n, 2),
            "mean_batch": round(texts / calls, 2) if calls else None,
            "server_cpu_ms_per_request": round(server_ms, 1),
            "postgres_cpu_ms_per_request": round(pg_ms, 1),
            "cpu_ms_per_request": round(server_ms + pg_ms, 1),
        }


def step(server: Server, rate: float, seconds: float, queries: list[str], seed: int) -> dict:
    """One open-loop step on one server."""
    cost, load0 = Cost(server), load_average()
    cost.start()
    result = asyncio.run(open_loop(server.url, rate, seconds, queries, seed))
    result.update(cost.per_request(result["n"]))
    result["load_average"] = [load0, load_average()]
    result["ok"] = result["p95_ms"] <= BUDGET_MS and result["errors"] == 0
    return result


def closed_loop(server: Server, queries: list[str], seconds: float) -> dict:
    """bench_search.py's figure: CONNECTIONS clients, each sending its next request when the last returns."""
    cost = Cost(server)
    cost.start()
    result = asyncio.run(concurrent(server.url, queries, CONNECTIONS, seconds, server))
    result.update(cost.per_request(result["n"]))
    return result


def sweep(servers: dict[str, Server], stream: QueryStream, args) -> dict[str, list[dict]]:
    """Raise the rate by --factor per step, every arm per step (order rotating), until each fails twice."""
    steps: dict[str, list[dict]] = {arm: [] for arm in servers}
    failures = dict.fromkeys(servers, 0)
    rate, i = args.start_rate, 0
    while rate <= args.max_rate and any(f < 2 for f in failures.values()):
        # Each arm its own questions, interleaved from one stream: the same questions twice would find the
        # second arm's pages already in PostgreSQL's buffers (measured: the first arm of a step was slower).
        pool = stream.take(len(servers) * (int(rate * args.step_seconds * 1.5) + 10))
        queries = {arm: pool[k :: len(servers)] for k, arm in enumerate(servers)}
        arms = [a for a in servers if failures[a] < 2]
        for arm in arms[i % len(arms) :] + arms[: i % len(arms)]:  # order rotates: no arm always first
            r = step(servers[arm], round(rate, 1), args.step_seconds, queries[arm], seed=i)
            steps[arm].append(r)
            failures[arm] = 0 if r["ok"] else failures[arm] + 1
            print(f"  {arm:9} offered {r['offered_per_s']:6.1f}/s  achieved {r['achieved_per_s']:6.1f}/s  "
                  f"p50 {r['p50_ms']:7.1f}  p95 {r['p95_ms']:7.1f} ms  batch {r['mean_batch']}  "
                  f"cpu {r['cpu_ms_per_request']} ms/req  "
                  f"load {r['load_average'][1]}", flush=True)  # fmt: skip
        rate *= args.factor
        i += 1
    return steps


def within_budget(steps: list[dict]) -> dict | None:
    """The highest step whose p95, and every lower step's, stayed within the budget."""
    best = None
    for s in steps:
        if not s["ok"]:
            break
        best = s
    return best


def bare_embedding(seconds: float, rounds: int = 3) -> dict:
    """The ceiling: the server's query model in this process, one query per call and 16 per call,
    interleaved (the int8 query model runs a call's queries one by one, so the two agree)."""
    from mcp_rag.config import load_settings
    from mcp_rag.embed import get_query_embedder

    embedder = get_query_embedder(load_settings(env="test"))  # what the server embeds queries with
    stream = QueryStream()
    embedder.embed(stream.take(16))
    timing = {"single": [0.0, 0], "batch16": [0.0, 0]}
    load0 = load_average()
    for _ in range(rounds):
        for kind, size in (("single", 1), ("batch16", 16)):
            deadline = time.monotonic() + seconds / rounds
            while time.monotonic() < deadline:
                texts = stream.take(size)
                t0 = time.perf_counter()
                embedder.embed(texts)
                timing[kind][0] += time.perf_counter() - t0
                timing[kind][1] += size
    out = {kind: round(n / s, 1) for kind, (s, n) in timing.items()}
    return {"single_queries_per_s": out["single"], "batch16_queries_per_s": out["batch16"],
            "load_average": [load0, load_average()]}  # fmt: skip


def warm(server: Server, stream: QueryStream, n: int = 20) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for q in stream.take(n):
            http.post("/v1/search", json={"query": q, "top_k": TOP_K}).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--cache", type=Path, default=Path("/var/tmp/mcp-rag-bench"))
    parser.add_argument("--quick", action="store_true", help="shorter steps and coarser rates (make bench)")
    parser.add_argument("--start-rate", type=float, default=4.0)
    parser.add_argument("--arms", help=f"comma-separated, of {','.join(ARMS)} (quick: batch2,unbatched; else all)")
    parser.add_argument("--max-rate", type=float, default=200.0)
    parser.add_argument("--factor", type=float, help="rate multiplier per step (1.5 quick, 1.15 full)")
    parser.add_argument("--step-seconds", type=float, help="seconds per step and arm (8 quick, 20 full)")
    parser.add_argument(
        "--closed-seconds", type=float, help="closed-loop seconds per arm and round (10 quick, 20 full)"
    )
    args = parser.parse_args()
    args.factor = args.factor or (1.5 if args.quick else 1.15)
    chosen = {a: ARMS[a] for a in (args.arms or ("batch2,unbatched" if args.quick else ",".join(ARMS))).split(",")}
    args.step_seconds = args.step_seconds or (8.0 if args.quick else 20.0)
    args.closed_seconds = args.closed_seconds or (10.0 if args.quick else 20.0)

    started = time.strftime("%H:%M:%S")
    data_dir, built = ensure_built(args.cache, args.chunks)
    stream = QueryStream()
    # Both servers share the database; neither migrates it (the cached build is read, never changed here).
    servers = {
        arm: Server(data_dir, {"MCP_RAG_QUERY_MODEL_CALLS": calls, "MCP_RAG_AUTO_MIGRATE": "false"})
        for arm, calls in chosen.items()
    }
    try:
        for s in servers.values():
            s.wait_ready()
            warm(s, stream, 60)
        print(f"open loop, {CONNECTIONS} connections, {args.step_seconds:g} s per step:", flush=True)
        steps = sweep(servers, stream, args)
        # Two rounds, the second in reverse order, so that no arm always runs last.
        rounds: dict[str, list[dict]] = {arm: [] for arm in chosen}
        for order in (list(chosen), list(chosen)[::-1]):
            for arm in order:
                rounds[arm].append(closed_loop(servers[arm], stream.take(5000), args.closed_seconds))
    finally:
        for s in servers.values():
            s.stop()
    bare = bare_embedding(min(10.0, args.closed_seconds))
    arms = {}
    for arm in chosen:
        best = within_budget(steps[arm])
        arms[arm] = {
            "open_loop_steps": steps[arm],
            "max_rate_p95_within_budget": best and best["offered_per_s"],
            "achieved_per_s_there": best and best["achieved_per_s"],
            "p95_ms_there": best and best["p95_ms"],
            "cpu_ms_per_request_open_loop_median": round(
                statistics.median(s["cpu_ms_per_request"] for s in steps[arm]), 1
            ),
            "closed_loop": {
                "requests_per_s": round(statistics.fmean(r["requests_per_s"] for r in rounds[arm]), 1),
                "p50_ms": round(statistics.fmean(r["p50_ms"] for r in rounds[arm]), 1),
                "p95_ms": round(statistics.fmean(r["p95_ms"] for r in rounds[arm]), 1),
                "mean_batch": rounds[arm][0]["mean_batch"]
                and round(statistics.fmean(r["mean_batch"] for r in rounds[arm]), 2),
                "cpu_ms_per_request": round(statistics.fmean(r["cpu_ms_per_request"] for r in rounds[arm]), 1),
                "rounds": rounds[arm],
            },
        }
        # What the CPU cost per request allows on these cores with nothing else running: an upper bound.
        cpu_ms = arms[arm]["closed_loop"]["cpu_ms_per_request"]
        arms[arm]["closed_loop"]["cpu_bound_per_s"] = round((os.cpu_count() or 1) * 1000 / cpu_ms, 1)
    result = {
        "chunks": args.chunks,
        "build": built,
        "mode": "quick" if args.quick else "full",
        "window": f"{started}-{time.strftime('%H:%M:%S')}",
        "p95_budget_ms": BUDGET_MS,
        "connections": CONNECTIONS,
        "arrivals": "poisson",
        "step_seconds": args.step_seconds,
        "arms": arms,
        "bare_query_embedding": bare,
        "ratio_to_bare_single": {
            arm: a["achieved_per_s_there"] and round(a["achieved_per_s_there"] / bare["single_queries_per_s"], 3)
            for arm, a in arms.items()
        },
    }
    path = write_result(f"bench_throughput_{args.chunks}" + ("_quick" if args.quick else ""), result)
    print(f"\nsearch @{args.chunks}, {CONNECTIONS} connections, p95 budget {BUDGET_MS:g} ms  ({result['window']})")
    print(f"{'':10} {'open loop: max rate at p95<=100':34} {'closed loop 16 clients':30}")
    for arm, a in arms.items():
        c = a["closed_loop"]
        o = (
            f"{a['max_rate_p95_within_budget']}/s offered, {a['achieved_per_s_there']}/s, p95 {a['p95_ms_there']} ms"
            if a["max_rate_p95_within_budget"]
            else "none (first step already over)"
        )
        print(
            f"{arm:10} {o:34} {c['requests_per_s']} req/s, p50 {c['p50_ms']} / p95 {c['p95_ms']} ms, "
            f"batch {c['mean_batch']}, cpu {c['cpu_ms_per_request']} ms/req "
            f"(bound {c['cpu_bound_per_s']}/s on {os.cpu_count()} idle cores)"
        )
    print(
        f"bare query embedding: {bare['single_queries_per_s']} q/s one at a time, "
        f"{bare['batch16_queries_per_s']} q/s in batches of 16 (load {bare['load_average']})  -> {path}"
    )


if __name__ == "__main__":
    main()
