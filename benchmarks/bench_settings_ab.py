"""Search latency of two or more settings, in process, interleaved question by question.

    python benchmarks/bench_settings_ab.py --data /var/tmp/mcp-rag-bench/search-100000 \\
        --variant window_arm=false --variant window_arm=true

Each variant is a `Service` over the same data dir (a bench_search.py
database) with some settings changed (NAME=VALUE, as pydantic reads them).
Every question is asked once per variant, unfiltered and then with one filter
(source, a recent time range, one conversation, one author in turn), the
variants' order alternating; each variant's query cache is emptied before
each search, so every search embeds its query. Without HTTP, the database
work a setting adds is not diluted by the web layer (bench_ab.py measures
over HTTP). Prints p50 / p95 per variant and its ratio to the first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import TOP_K, filters, questions  # noqa: E402

from mcp_rag.config import load_settings  # noqa: E402
from mcp_rag.models import SearchRequest  # noqa: E402
from mcp_rag.service import Service  # noqa: E402

FILTERS = ("source", "recent", "conversation", "author")


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="data dir of a bench_search.py database")
    parser.add_argument("--variant", action="append", required=True, help="NAME=VALUE[,NAME=VALUE] (repeat)")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    services = {}
    for spec in args.variant:
        overrides = dict(item.split("=", 1) for item in spec.split(",") if item)
        services[spec] = Service(load_settings(data_dir=args.data, env="test", **overrides))
    qs = questions()
    lat: dict[tuple[str, bool], list[float]] = {(v, f): [] for v in services for f in (False, True)}
    by_kind: dict[tuple[str, str], list[float]] = {(v, k): [] for v in services for k in FILTERS}
    try:
        for service in services.values():  # warm: model, pool, caches
            for q in qs[:5]:
                service.search(SearchRequest(query=q, top_k=TOP_K))
        names = list(services)
        for i, q in enumerate(qs[5 : 5 + args.queries]):
            for name in names if i % 2 == 0 else names[::-1]:
                service = services[name]
                for filtered in (False, True):
                    extra = filters(i, FILTERS[i % len(FILTERS)]) if filtered else {}
                    service.query_cache._items.clear()  # each search embeds its query
                    started = time.perf_counter()
                    service.search(SearchRequest(query=q, top_k=TOP_K, **extra))
                    lat[name, filtered].append((time.perf_counter() - started) * 1000)
                    if filtered:
                        by_kind[name, FILTERS[i % len(FILTERS)]].append(lat[name, filtered][-1])
    finally:
        for service in services.values():
            service.close()
    first = args.variant[0]
    for name in services:
        cells = []
        for filtered in (False, True):
            xs, base = lat[name, filtered], lat[first, filtered]
            p50, base50 = statistics.median(xs), statistics.median(base)
            cells.append(
                f"{'filtered' if filtered else 'plain'} p50 {p50:6.1f} (x{p50 / base50:.2f}) "
                f"p95 {p95(xs):6.1f} (x{p95(xs) / p95(base):.2f})"
            )
        print(f"{name:30} " + "   ".join(cells))
        kinds = (f"{k} {statistics.median(by_kind[name, k]):.1f} / {p95(by_kind[name, k]):.1f}" for k in FILTERS)
        print(f"{'':30} filtered p50 / p95 by kind: " + ", ".join(kinds))
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
