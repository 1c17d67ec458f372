"""Two servers, one run: search latency of A and B interleaved request by request.

On a shared machine the load moves between two back-to-back runs; alternating
A and B on the same questions (which one goes first alternates too) puts both
under the same load. Also checks that A and B return the same hits with the
same scores, which is what a speed-only change must keep. With `--clients N`,
then N closed-loop clients on A and on B in turn (`--rounds`, alternating which
goes first), with requests/s and CPU ms per request (server + its PostgreSQL).

Each side is a data dir (e.g. a bench_search.py database) and optionally a
source tree to run the server from (put first on PYTHONPATH), so the code of
another commit can be compared with the working tree:

    git archive HEAD | tar -x -C /tmp/mcp-rag-head
    cp -a /var/tmp/mcp-rag-bench /var/tmp/mcp-rag-bench-head   # before B migrates it
    python benchmarks/bench_ab.py \\
        --a /var/tmp/mcp-rag-bench-head/search-100000 --a-code /tmp/mcp-rag-head \\
        --b /var/tmp/mcp-rag-bench/search-100000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import Server, load_average, summary_ms, write_experiment  # noqa: E402
from bench_search import TOP_K, by_filter_kind, concurrent, filters, questions  # noqa: E402
from bench_throughput import Cost  # noqa: E402


def hits(resp: httpx.Response) -> list[tuple]:
    resp.raise_for_status()
    return [(h["conversation_id"], h["message_ids"], h["score"]) for h in resp.json()["hits"]]


def closed_loop(server: Server, queries: list[str], clients: int, seconds: float) -> dict:
    """`clients` closed-loop clients for `seconds`, with the CPU (server + its PostgreSQL) per request."""
    cost = Cost(server)
    cost.start()
    run = asyncio.run(concurrent(server.url, queries, clients, seconds, server))
    return {**run, **cost.per_request(run["n"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", type=Path, required=True, help="data dir of server A")
    parser.add_argument("--a-code", help="source tree to run A from (default: this checkout)")
    parser.add_argument("--b", type=Path, required=True, help="data dir of server B")
    parser.add_argument("--b-code", help="source tree to run B from (default: this checkout)")
    for side in "ab":
        parser.add_argument(
            f"--{side}-env",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help=f"extra environment of server {side.upper()}",
        )
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--clients", type=int, default=0, help="then N concurrent closed-loop clients (0: skip)")
    parser.add_argument("--rounds", type=int, default=4, help="concurrent rounds per side, alternating")
    parser.add_argument("--seconds", type=float, default=15, help="length of one concurrent round")
    parser.add_argument("--name", default="latest", help="the experiment's key in benchmarks/results/bench_ab.json")
    args = parser.parse_args()
    qs = questions()
    servers = {}
    for side in "ab":
        env = dict(item.split("=", 1) for item in getattr(args, f"{side}_env"))
        if code := getattr(args, f"{side}_code"):
            env["PYTHONPATH"] = code
        servers[side] = Server(getattr(args, side), env=env)
    lat = {(side, kind): [] for side in servers for kind in ("plain", "filtered")}
    same, overlap, loads = 0, 0.0, []
    try:
        clients = {}
        for side, server in servers.items():
            server.wait_ready()
            clients[side] = httpx.Client(base_url=server.url, timeout=60)
        for q in qs[:20]:  # warm: model, pool, caches
            for http in clients.values():
                http.post("/v1/search", json={"query": q, "top_k": TOP_K})
        for i, q in enumerate(qs[20 : 20 + args.queries]):
            order = ["a", "b"] if i % 2 else ["b", "a"]
            for kind, extra in (("plain", {}), ("filtered", filters(i))):
                got = {}
                for side in order:
                    started = time.perf_counter()
                    resp = clients[side].post("/v1/search", json={"query": q, "top_k": TOP_K, **extra})
                    lat[side, kind].append(time.perf_counter() - started)
                    got[side] = hits(resp)
                same += got["a"] == got["b"]
                a_hits, b_hits = ({(h[0], tuple(h[1])) for h in got[side]} for side in "ab")
                overlap += len(a_hits & b_hits) / max(len(a_hits), 1)
            if i % 25 == 0:
                loads.append(load_average())
        for http in clients.values():
            http.close()
        rounds = {side: [] for side in servers}
        for r in range(args.rounds if args.clients else 0):
            for side in ("a", "b") if r % 2 == 0 else ("b", "a"):
                # A word of its own per round: no round hits the query cache of an earlier one.
                fresh = [f"{q} round{r}" for q in qs[20:]]
                rounds[side].append(closed_loop(servers[side], fresh, args.clients, args.seconds))
    finally:
        for server in servers.values():
            server.stop()
    result = {
        "a": {"data": str(args.a), "code": args.a_code or "this checkout"},
        "b": {"data": str(args.b), "code": args.b_code or "this checkout"},
        **{f"{side}_{kind}": summary_ms(v) for (side, kind), v in lat.items()},
        **{f"{side}_filtered_by": by_filter_kind(lat[side, "filtered"]) for side in servers},
        "identical_hits": f"{same} of {2 * args.queries}",
        "top_k_overlap": round(overlap / (2 * args.queries), 4),
        "load_average": {"min": min(loads), "max": max(loads)},
    }
    for side, runs in rounds.items():
        if runs:
            result[f"{side}_concurrent"] = {
                "clients": args.clients,
                "requests_per_s_median": round(statistics.median(x["requests_per_s"] for x in runs), 1),
                "cpu_ms_per_request_median": statistics.median(x["cpu_ms_per_request"] for x in runs),
                "rounds": runs,
            }
    path = write_experiment("bench_ab", args.name, result)
    for (side, kind), v in lat.items():
        s = summary_ms(v)
        print(f"{side} {kind:8}  p50 {s['p50_ms']} ms  p95 {s['p95_ms']} ms")
        if kind == "filtered":
            by = result[f"{side}_filtered_by"]
            print("    " + ", ".join(f"{name} {v['p50_ms']} / {v['p95_ms']}" for name, v in by.items()))
    for side in servers:
        if c := result.get(f"{side}_concurrent"):
            rates = [x["requests_per_s"] for x in c["rounds"]]
            p95s = [x["p95_ms"] for x in c["rounds"]]
            print(
                f"{side} {c['clients']} clients  {c['requests_per_s_median']} req/s (rounds {rates}, p95 {p95s} ms), "
                f"{c['cpu_ms_per_request_median']} CPU ms/request"
            )
    print(
        f"identical hits and scores: {result['identical_hits']}; top-{TOP_K} overlap {result['top_k_overlap']}; "
        f"load {result['load_average']}  -> {path}"
    )


if __name__ == "__main__":
    main()
