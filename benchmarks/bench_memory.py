"""Memory of `mcp-rag serve` and its embedded PostgreSQL, per process, beside the speed it keeps.

The scenario, on a fresh data dir for each side:
  1. start `serve`, wait for `/ready`, run one search: the idle figure;
  2. ingest four REALTALK conversations (2,013 messages) over REST, one after
     the other: messages/s;
  3. 300 distinct REALTALK questions, sequential: p50 / p95;
  4. the proportional set size (PSS: shared pages split between the processes
     that map them, so the sum is what the tree costs) of the server, of
     every PostgreSQL process and of the watchdog, by role, and their total
     ("after"); the server's own PSS by kind of mapping (anonymous memory:
     Python heap, ONNX Runtime arenas; each shared library and model file);
  5. the same once the server has sat unused for --release-wait seconds
     (default: the document model's default keep-alive plus 15 s, past which
     the float32 model and idle pooled connections are released): "released".
Sides run one at a time (two servers side by side would share library pages
and each look smaller), in alternating order over --rounds; every side's
figures are summed over its rounds (speed) or taken from its last round (memory).

    python benchmarks/bench_memory.py                       # the default beside MCP_RAG_MEMORY_PROFILE=speed
    python benchmarks/bench_memory.py --baseline-code /tmp/mcp-rag-before --rounds 2
    python benchmarks/bench_memory.py --release-wait 0      # without the "released" figure
    python benchmarks/bench_memory.py --baseline-code /tmp/mcp-rag-before --side default: --idle-only --rounds 4
                                                            # step 1 alone, the sides alternating
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import REALTALK, Server, load_average, realtalk_texts, summary_ms, write_result  # noqa: E402

# Four REALTALK conversations, 2,013 messages, and their 299 questions (+1 repeated: 300 searches).
CONVERSATIONS = ("Chat_1_Emi_Elise", "Chat_2_Kevin_Elise", "Chat_3_Kevin_Paola", "Chat_10_Fahim_Muhhamed")
SEARCHES = 300
MB = 2**20


def process_memory(server_pid: int, pgdata: Path) -> dict:
    """PSS in MiB of the server, of each PostgreSQL process serving `pgdata` and of its watchdog,
    by role, and the total."""
    procs: list[tuple[str, psutil.Process]] = [("server", psutil.Process(server_pid))]
    try:
        root = psutil.Process(int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0]))
        procs.append(("postgres: postmaster", root))
        procs += [(_role(p), p) for p in root.children(recursive=True)]
    except (OSError, ValueError, psutil.Error):
        pass
    procs += [("watchdog", p) for p in _watchdogs(pgdata)]
    rows = []
    for role, proc in procs:
        try:
            full = proc.memory_full_info()
        except psutil.Error:
            continue
        rows.append(
            {"role": role, "pid": proc.pid, "pss_mb": round(full.pss / MB, 1), "uss_mb": round(full.uss / MB, 1)}
        )
    by_role: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        by_role[row["role"]].append(row["pss_mb"])
    return {
        "total_pss_mb": round(sum(r["pss_mb"] for r in rows), 1),
        "server_pss_mb": sum(r["pss_mb"] for r in rows if r["role"] == "server"),
        "postgres_pss_mb": round(sum(r["pss_mb"] for r in rows if r["role"].startswith("postgres")), 1),
        "watchdog_pss_mb": round(sum(r["pss_mb"] for r in rows if r["role"] == "watchdog"), 1),
        "by_role": {k: {"processes": len(v), "pss_mb": round(sum(v), 1)} for k, v in sorted(by_role.items())},
        "processes": rows,
    }


def _watchdogs(pgdata: Path) -> list[psutil.Process]:
    """The watchdog process(es) of `pgdata` (store/watchdog.py: its path is in their arguments)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info["cmdline"] or []
        if any("watchdog" in a for a in argv) and str(pgdata.resolve()) in argv:
            found.append(proc)
    return found


def _role(proc: psutil.Process) -> str:
    """A PostgreSQL process's role from its title: 'postgres: checkpointer', '... client backend'."""
    try:
        title = " ".join(proc.cmdline())
    except psutil.Error:
        return "postgres: ?"
    if "postgres:" not in title:
        return "postgres: ?"
    rest = title.split("postgres:", 1)[1].strip()
    # A client backend's title is "user database [local] state": keep only that it is one.
    if rest.startswith(("postgres ", "mcp_rag ")) or "[local]" in rest:
        return "postgres: client backend"
    return "postgres: " + re.sub(r"\s+", " ", rest)


def mappings(pid: int, top: int = 12) -> dict[str, float]:
    """The PSS in MiB of a process's mappings grouped by what backs them: '[anon]' (heap, arenas,
    thread stacks), each shared library or model file by name, largest first."""
    groups: dict[str, int] = defaultdict(int)
    name = "[anon]"
    try:
        with open(f"/proc/{pid}/smaps") as fh:
            for line in fh:
                first = line.split(maxsplit=6)
                if len(first) >= 5 and "-" in first[0] and not first[0].endswith(":"):
                    path = first[5].strip() if len(first) > 5 else ""
                    name = Path(path).name if path.startswith("/") else (path or "[anon]")
                    name = "[anon]" if name in ("[heap]", "[stack]") or name.startswith("[anon") else name
                elif line.startswith("Pss:"):
                    groups[name] += int(line.split()[1]) * 1024
    except OSError:
        return {}
    ordered = sorted(groups.items(), key=lambda kv: -kv[1])
    out = {k: round(v / MB, 1) for k, v in ordered[:top]}
    out["(other mappings)"] = round(sum(v for _, v in ordered[top:]) / MB, 1)
    return out


def scenario(
    name: str, env: dict[str, str], convs: list, questions: list[str], release_wait: float, idle_only: bool = False
) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"mcp-rag-bench-memory-{name}-") as tmp:
        data_dir = Path(tmp)
        data_dir.chmod(0o755)  # the embedded server runs as its own user
        with Server(data_dir, env=env) as server, httpx.Client(base_url=server.url, timeout=600) as http:
            ready = server.wait_ready()
            pgdata = data_dir / "pgdata"
            http.post("/v1/search", json={"query": "where did they go last weekend", "top_k": 10}).raise_for_status()
            time.sleep(1)
            idle = process_memory(server.proc.pid, pgdata)
            loads = [load_average()]
            if idle_only:
                return {
                    "ready_s": round(ready, 2),
                    "idle": idle,
                    "after": None,
                    "released": None,
                    "load_average": loads,
                }
            t0, messages = time.perf_counter(), 0
            for conv in convs:
                body = conv.ingest_body()
                http.post("/v1/conversations", json=body).raise_for_status()
                messages += len(body["messages"])
            ingest_s = time.perf_counter() - t0
            loads.append(load_average())
            lat = []
            for q in questions:
                t = time.perf_counter()
                http.post("/v1/search", json={"query": q, "top_k": 10}).raise_for_status()
                lat.append(time.perf_counter() - t)
            loads.append(load_average())
            time.sleep(1)
            after = process_memory(server.proc.pid, pgdata)
            after["server_mappings_pss_mb"] = mappings(server.proc.pid)
            released = None
            if release_wait > 0:
                time.sleep(release_wait)
                released = process_memory(server.proc.pid, pgdata)
                released["server_mappings_pss_mb"] = mappings(server.proc.pid)
                released["unused_for_s"] = release_wait + 1
    return {
        "ready_s": round(ready, 2),
        "idle": idle,
        "after": after,
        "released": released,
        "messages": messages,
        "ingest_s": ingest_s,
        "search_s": lat,
        "load_average": loads,
    }


def summarise(runs: list[dict]) -> dict:
    last = runs[-1]
    loads = [x for r in runs for x in r["load_average"]]
    idle = {
        "rounds": len(runs),
        "ready_s": statistics.median(r["ready_s"] for r in runs),
        "idle_total_pss_mb": last["idle"]["total_pss_mb"],
        "idle": last["idle"],
        "idle_total_pss_mb_per_round": [r["idle"]["total_pss_mb"] for r in runs],
        "idle_server_pss_mb_per_round": [r["idle"]["server_pss_mb"] for r in runs],
        "load_average": {"min": min(loads), "max": max(loads)},
    }
    if last["after"] is None:  # --idle-only
        return idle
    messages = sum(r["messages"] for r in runs)
    return {
        **idle,
        "ingest_messages_per_s": round(messages / sum(r["ingest_s"] for r in runs), 1),
        "search": summary_ms([s for r in runs for s in r["search_s"]]),
        "after_total_pss_mb": last["after"]["total_pss_mb"],
        "released_total_pss_mb": last["released"]["total_pss_mb"] if last["released"] else None,
        "after": last["after"],
        "released": last["released"],
        "after_total_pss_mb_per_round": [r["after"]["total_pss_mb"] for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1, help="scenario runs per side, in alternating order")
    parser.add_argument("--baseline-code", help="also run a server from this source tree (before/after)")
    parser.add_argument(
        "--side",
        action="append",
        default=[],
        metavar="NAME:VAR=VALUE,...",
        help="a side with these settings (default: 'default' and 'speed' with MCP_RAG_MEMORY_PROFILE=speed)",
    )
    parser.add_argument(
        "--release-wait",
        type=float,
        default=None,
        help="seconds the server sits unused before the 'released' figure (default: the document "
        "model's default keep-alive + 15; 0 skips it)",
    )
    parser.add_argument("--idle-only", action="store_true", help="only step 1: the idle figure after a first search")
    args = parser.parse_args()
    # The servers' working directory: `python -m` (how a baseline may start its watchdog) imports
    # from it first, and this checkout's package must not shadow the baseline's there.
    os.chdir(tempfile.gettempdir())
    if args.release_wait is None:
        from mcp_rag.config import Settings

        args.release_wait = Settings.model_fields["doc_model_keep_alive"].default + 15
    sides: dict[str, dict[str, str]] = {}
    for spec in args.side or ["default:", "speed:MCP_RAG_MEMORY_PROFILE=speed"]:
        name, _, assigns = spec.partition(":")
        sides[name] = dict(a.split("=", 1) for a in assigns.split(",") if a)
    if args.baseline_code:
        sides["baseline"] = {"PYTHONPATH": args.baseline_code}
    convs = realtalk_texts(CONVERSATIONS)
    qs = [q.question for c in convs for q in c.questions]
    questions = [qs[i % len(qs)] for i in range(SEARCHES)]
    runs: dict[str, list[dict]] = defaultdict(list)
    names = list(sides)
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            runs[name].append(scenario(name, sides[name], convs, questions, args.release_wait, args.idle_only))
    result = {
        "scenario": {
            "conversations": list(CONVERSATIONS),
            "searches": SEARCHES,
            "data": str(REALTALK),
            "release_wait_s": args.release_wait,
        },
        "sides": {name: {"env": sides[name], **summarise(runs[name])} for name in names},
    }
    path = write_result("memory_serve_realtalk_idle" if args.idle_only else "memory_serve_realtalk", result)
    for name, s in result["sides"].items():
        if args.idle_only:
            pairs = zip(s["idle_total_pss_mb_per_round"], s["idle_server_pss_mb_per_round"], strict=True)
            rounds = ", ".join(f"{total} ({server})" for total, server in pairs)
            print(f"memory {name}: PSS idle after a first search, per round (server): {rounds} MiB")
            print(f"  last round: {s['idle']['total_pss_mb']} MiB = {per_process(s['idle'])}")
            continue
        print(
            f"memory {name}: ingest {s['ingest_messages_per_s']} msg/s, search p50 {s['search']['p50_ms']} / "
            f"p95 {s['search']['p95_ms']} ms (load {s['load_average']['min']}-{s['load_average']['max']})"
        )
        moments = [
            ("idle after a first search", s["idle"]),
            (f"after 4 conversations + {SEARCHES} searches", s["after"]),
        ]
        if s["released"]:
            moments.append((f"then unused for {s['released']['unused_for_s']:g} s", s["released"]))
        for label, m in moments:
            print(f"  PSS {label}: {m['total_pss_mb']} MiB = {per_process(m)}")
    print(f"-> {path}")


def per_process(m: dict) -> str:
    """'server 140.1 + client backend 9.9 (2) + ...': each role's PSS in MiB, process count past one."""
    return " + ".join(
        f"{k.removeprefix('postgres: ')} {v['pss_mb']}" + (f" ({v['processes']})" if v["processes"] > 1 else "")
        for k, v in sorted(m["by_role"].items(), key=lambda kv: -kv[1]["pss_mb"])
    )


if __name__ == "__main__":
    main()
