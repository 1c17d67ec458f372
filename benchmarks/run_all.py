"""`make bench`: every performance figure of docs/PERFORMANCE.md, in one run.

Quick set (about 25 minutes on 2 cores; the 100k database is cached in
/var/tmp/mcp-rag-bench after the first run):
  - ingest end to end vs the bare embedding model (bench_ingest.py);
  - search at 100k chunks: warm p50/p95, filtered, 16 clients, start-up,
    memory, sizes (bench_search.py);
  - search throughput at 100k: the highest open-loop rate with p95 <= 100 ms
    over 16 connections, query micro-batching on (2 or 1 model calls at once)
    and off in the same run, the
    closed-loop 16-client figure and the bare query-embedding rate
    (bench_throughput.py --quick, ~2 min);
  - MCP `initialize` over stdio (mcp_latency.py's handshake timer);
  - memory: PSS of `serve` and of each embedded PostgreSQL process after four
    REALTALK conversations and 300 searches, the lean default beside
    MCP_RAG_MEMORY_PROFILE=speed, with both sides' ingest rate and search
    p50/p95, and again once unused past the document model's keep-alive
    (bench_memory.py, ~17 min).
`--full` adds all ten REALTALK conversations to the ingest figure, longer
throughput steps, and a 1M-chunk search database (building it takes a long
while on 2 cores).

Each script writes benchmarks/results/<name>.json; this one also writes
summary.json and, with matplotlib installed, docs/performance.png.

    python benchmarks/run_all.py [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import MCP_RAG, RESULTS, ROOT, load_average, write_result  # noqa: E402


def run(script: str, *args: str) -> None:
    print(f"$ python benchmarks/{script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], check=True)


def mcp_initialize(runs: int = 5) -> dict:
    from mcp_latency import BARE_SERVER, time_to_initialize

    with tempfile.TemporaryDirectory(prefix="mcp-rag-bench-") as data_dir:
        env = {**os.environ, "MCP_RAG_DATA_DIR": data_dir, "MCP_RAG_ENV": "test"}
        out = {}
        for name, command in (("mcp_rag", [MCP_RAG, "mcp"]), ("bare_sdk", [sys.executable, "-c", BARE_SERVER])):
            load = load_average()
            wall = [time_to_initialize(command, env)[0] for _ in range(runs)]
            out[name] = {"median_s": round(statistics.median(wall), 3), "runs_s": [round(w, 3) for w in wall]}
            out[name]["load_average"] = [load, load_average()]
    return out


def table(results: dict) -> list[tuple[str, str, str, str]]:
    ing, s100, mcp = results["ingest"], results["search_100000"], results["mcp_initialize"]
    mem = s100["memory"]
    rows = [
        (
            "ingest msg/s vs bare model",
            f"{ing['ingest_messages_per_s']} vs {ing['bare_sentences_per_s']} = {ing['ratio']:.0%}",
            ">= 85%",
            f"{ing['load_average']['min']}-{ing['load_average']['max']}",
        )
    ]
    for label, key in (("100k", "search_100000"), ("1M", "search_1000000")):
        if key not in results:
            continue
        r = results[key]
        s, f, c = r["search_sequential"], r["search_filtered"], r["concurrent"]
        p95_target = "p95 <= 60 ms" if label == "1M" else "p50 <= 15, p95 <= 40 ms"
        rows += [
            (f"search {label} warm", f"p50 {s['p50_ms']} / p95 {s['p95_ms']} ms", p95_target, _load(s)),
            (
                f"search {label} filtered",
                f"p50 {f['p50_ms']} / p95 {f['p95_ms']} ms, thin top-k {f['thin_results']}",
                "same, full top-k",
                _load(f),
            ),
            (
                f"search {label} filtered p95 / unfiltered p95",
                ", ".join(f"{k} {v['p95_vs_unfiltered']}x" for k, v in f["by_filter"].items()),
                "<= 2x",
                _load(f),
            ),
            (
                f"search {label} 16 clients",
                f"{c['requests_per_s']} req/s, p95 {c['p95_ms']} ms; bare query embedding "
                f"{r['bare_query_embedding']['queries_per_s']} q/s",
                "p95 <= 100 ms",
                _load(c),
            ),
        ]
    rows += throughput_rows(results["throughput"])
    rows += memory_rows(results["memory"])
    rows += [
        (
            "serve -> /ready (100k DB)",
            f"{s100['startup']['median_s']} s",
            "<= 5 s",
            str(s100["startup"]["load_average"]),
        ),
        (
            "MCP initialize (stdio)",
            f"{mcp['mcp_rag']['median_s']} s (bare SDK {mcp['bare_sdk']['median_s']} s)",
            "<= 1 s",
            str(mcp["mcp_rag"]["load_average"][0]),
        ),
        (
            "server RSS idle / under load",
            f"{mem['server_rss_mb_idle_model_loaded']} / {mem['server_rss_mb_under_load_max']} MB",
            "report",
            "",
        ),
    ]
    return rows


def memory_rows(m: dict) -> list[tuple[str, str, str, str]]:
    """PSS per process and in total for each side of bench_memory.py, beside its speed."""
    rows = []
    for name, s in m["sides"].items():
        after = s["after"]
        roles = ", ".join(
            f"{k.removeprefix('postgres: ')} {v['pss_mb']}" + (f" ({v['processes']})" if v["processes"] > 1 else "")
            for k, v in after["by_role"].items()
        )
        rows += [
            (
                f"PSS serve + PostgreSQL, {name}",
                f"idle after a first search {s['idle_total_pss_mb']} MiB; after 4 conversations + 300 searches "
                f"{s['after_total_pss_mb']} MiB: {roles}"
                + (
                    f"; then unused for {s['released']['unused_for_s']:g} s {s['released_total_pss_mb']} MiB"
                    if s.get("released")
                    else ""
                ),
                "<= 180 idle, <= 350 after" if name == "default" else "report",
                "",
            ),
            (
                f"speed, {name}",
                f"ingest {s['ingest_messages_per_s']} msg/s, search p50 {s['search']['p50_ms']} / "
                f"p95 {s['search']['p95_ms']} ms",
                "within 10% of before",
                f"{s['load_average']['min']}-{s['load_average']['max']}",
            ),
        ]
    return rows


def throughput_rows(t: dict) -> list[tuple[str, str, str, str]]:
    bare = t["bare_query_embedding"]
    rows = []
    for arm, a in t["arms"].items():
        steps = a["open_loop_steps"]
        loads = [x for s in steps for x in s["load_average"]]
        rate = a["max_rate_p95_within_budget"]
        where = f"{rate}/s offered ({a['achieved_per_s_there']}/s, p95 {a['p95_ms_there']} ms)" if rate else "none"
        c = a["closed_loop"]
        rows.append(
            (
                f"search 100k open loop, {arm}",
                f"max rate at p95 <= 100 ms: {where}; closed loop {c['requests_per_s']} req/s p95 {c['p95_ms']} ms",
                "report vs bare embedding",
                f"{min(loads)}-{max(loads)}",
            )
        )
    rows.append(
        (
            "bare query embedding",
            f"{bare['single_queries_per_s']} q/s one at a time, {bare['batch16_queries_per_s']} q/s in 16s",
            "the ceiling",
            f"{min(bare['load_average'])}-{max(bare['load_average'])}",
        )
    )
    return rows


def _load(block: dict) -> str:
    la = block.get("load_average") or {}
    return f"{la.get('min')}-{la.get('max')}"


def plot(results: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    keys = [k for k in ("search_100000", "search_1000000") if k in results]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    labels, p50, p95 = [], [], []
    for k in keys:
        r = results[k]
        n = "100k" if k.endswith("100000") else "1M"
        for variant, block in (("warm", r["search_sequential"]), ("filtered", r["search_filtered"])):
            labels.append(f"{n} {variant}")
            p50.append(block["p50_ms"])
            p95.append(block["p95_ms"])
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], p50, width=0.4, label="p50")
    ax.bar([i + 0.2 for i in x], p95, width=0.4, label="p95")
    ax.axhline(15, color="grey", linestyle=":", label="p50 target")
    ax.axhline(40, color="black", linestyle="--", label="p95 target (100k)")
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("ms over HTTP")
    ax.set_title("mcp-rag search latency (2 shared cores; see load averages in PERFORMANCE.md)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="all of REALTALK for ingest, and the 1M-chunk search set")
    args = parser.parse_args()
    run("bench_ingest.py", *(["--full"] if args.full else []))
    run("bench_search.py", "--chunks", "100000", "--queries", "150")
    run("bench_throughput.py", *([] if args.full else ["--quick"]))
    run("bench_memory.py")
    if args.full:
        run("bench_search.py", "--chunks", "1000000", "--queries", "200", "--seconds", "30")
    results = {
        "ingest": json.loads((RESULTS / "bench_ingest.json").read_text()),
        "search_100000": json.loads((RESULTS / "bench_search_100000.json").read_text()),
        "throughput": json.loads(
            (RESULTS / f"bench_throughput_100000{'' if args.full else '_quick'}.json").read_text()
        ),
        "mcp_initialize": mcp_initialize(),
        "memory": json.loads((RESULTS / "memory_serve_realtalk.json").read_text()),
    }
    if args.full:
        results["search_1000000"] = json.loads((RESULTS / "bench_search_1000000.json").read_text())
    rows = table(results)
    write_result(
        "summary", {"rows": [dict(zip(("figure", "measured", "target", "load"), r, strict=True)) for r in rows]}
    )
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':{width}}  measured | target | load average")
    for figure, measured, target, load in rows:
        print(f"{figure:{width}}  {measured} | {target} | {load}")
    if plot(results, ROOT / "docs" / "performance.png"):
        print("plot: docs/performance.png")


if __name__ == "__main__":
    main()
