"""Where a search's time goes, in process: when each step of `Service.search` ends.

    python benchmarks/search_timeline.py [--chunks 100000] [--queries 150] [--query-threads N]
                                         [--filter author|source|recent] [--since-share F] [--data DIR]

Opens the cached bench_search.py database (built on first use, see
bench_search.py) with the product's own `Service`, warms it with 20 questions,
then runs distinct real questions one at a time (query cache off, so every
query is embedded) and records, from the start of each search, when each step
returned and how long it took. The steps overlap: the query embeds on a worker
thread while the BM25 arm runs, and only the vector arm waits for it. No HTTP:
compare with bench_search.py's figures to see what the web layer adds.
`--filter` gives every search one of bench_search.py's filters (its figures
per filter are over HTTP); `--since-share 0.01` filters every search to the
last 1% of the data's time span instead. `--data` runs on another data dir,
such as a copy of that database made before a change (see bench_ab.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import load_average, machine, percentile, write_result  # noqa: E402
from bench_search import FILTER_KINDS, ensure_built, filters, questions, since  # noqa: E402

from mcp_rag import embed  # noqa: E402
from mcp_rag.config import load_settings  # noqa: E402
from mcp_rag.models import SearchRequest  # noqa: E402
from mcp_rag.search import fusion  # noqa: E402
from mcp_rag.service import Service  # noqa: E402
from mcp_rag.store import arms  # noqa: E402

STEPS = [
    (arms, "tune_vector_scan", "scan settings sent"),
    (arms, "lexical_arm", "BM25 arm"),
    (arms, "ranks_by_bits", "plan chosen (sign bits or HNSW)"),
    (embed.QueryCache, "embed", "query embedded (worker thread)"),
    (arms, "vector_arm", "vector arm"),
    (fusion, "fuse", "fusion"),
    (fusion, "rerank", "rerank"),
    (arms, "shown", "hit rows read"),
]


class Clock:
    def __init__(self):
        self.start = 0.0
        self.ended: dict[str, list[float]] = {}
        self.took: dict[str, list[float]] = {}

    def wrap(self, owner, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            begun = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                now = time.perf_counter()
                self.ended.setdefault(label, []).append((now - self.start) * 1000)
                self.took.setdefault(label, []).append((now - begun) * 1000)

        setattr(owner, name, timed)

    def reset(self) -> None:
        self.ended.clear()
        self.took.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--query-threads", type=int, default=1, help="MCP_RAG_QUERY_EMBEDDING_THREADS (0: all cores)")
    parser.add_argument("--filter", choices=FILTER_KINDS, help="one of bench_search.py's filters on every search")
    parser.add_argument("--since-share", type=float, help="every search: the last share of the time span (0-1)")
    parser.add_argument("--cached-queries", action="store_true", help="embed every query first: no overlap")
    parser.add_argument("--cache", type=Path, default=Path("/var/tmp/mcp-rag-bench"), help="as in bench_search.py")
    parser.add_argument("--data", type=Path, help="data dir to run on instead of the cached database")
    args = parser.parse_args()
    data_dir = args.data or ensure_built(args.cache, args.chunks)[0]
    clock = Clock()
    for owner, name, label in STEPS:
        clock.wrap(owner, name, label)
    service = Service(load_settings(env="test", data_dir=data_dir, query_embedding_threads=args.query_threads))
    service.ready()
    qs = questions()
    if args.cached_queries:
        for q in qs[20 : 20 + args.queries]:
            service.query_cache.embed(service.query_embedder, q)
    else:
        service.query_cache.maxsize = 0  # every query embedded, as distinct questions would be

    def request(i: int, q: str) -> SearchRequest:
        if args.since_share is not None:
            return SearchRequest(query=q, top_k=10, **since(args.since_share))
        return SearchRequest(query=q, top_k=10, **(filters(i, args.filter) if args.filter else {}))

    total = []
    loads = [load_average()]
    try:
        for i, q in enumerate(qs[:20]):
            service.search(request(i, q))
        clock.reset()
        for i, q in enumerate(qs[20 : 20 + args.queries]):
            clock.start = time.perf_counter()
            service.search(request(i, q))
            total.append((time.perf_counter() - clock.start) * 1000)
        loads.append(load_average())
    finally:
        service.close()
    steps = {
        label: {
            "ends_p50_ms": round(statistics.median(clock.ended[label]), 2),
            "takes_p50_ms": round(statistics.median(clock.took[label]), 2),
        }
        for _, _, label in STEPS
        if label in clock.ended
    }
    result = {
        "chunks": args.chunks,
        "data": str(data_dir),
        "filter": args.filter,
        "since_share": args.since_share,
        "machine": machine(),
        "queries": len(total),
        "steps": steps,
        "total_p50_ms": round(statistics.median(total), 2),
        "total_p95_ms": round(percentile(total, 95), 2),
        "load_average": {"min": min(loads), "max": max(loads)},
    }
    name = f"search_timeline_{args.chunks}" + (f"_{args.filter}" if args.filter else "")
    path = write_result(name + (f"_since{args.since_share:g}" if args.since_share is not None else ""), result)
    print(f"{'step':34} {'ends at (p50)':>14} {'takes (p50)':>12}")
    for label, s in sorted(steps.items(), key=lambda kv: kv[1]["ends_p50_ms"]):
        print(f"{label:34} {s['ends_p50_ms']:>11.1f} ms {s['takes_p50_ms']:>9.1f} ms")
    print(f"{'whole search':34} p50 {result['total_p50_ms']} ms, p95 {result['total_p95_ms']} ms")
    print(f"load {result['load_average']}  -> {path}")


if __name__ == "__main__":
    main()
