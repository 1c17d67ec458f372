"""Ingest throughput end to end against the bare embedding model, same texts, same run.

For each REALTALK conversation, in each round, in a rotating order:
  - bare: the ONNX model alone (this process, same batch size and threads as
    the server) embeds the conversation's message texts;
  - bare, labelled: the same model embeds the chunk texts the pipeline really
    embeds (each turn with its speaker and date label);
  - end to end: `POST /v1/conversations` to a real `mcp-rag serve` (JSON,
    validation, chunking, embedding, BM25 terms, one transaction with a binary
    COPY of the chunks, statistics triggers), under a new id each round so
    every round stores the whole conversation.
Interleaving keeps all sides under the same background load; the headline is
the ratio of messages/s to sentences/s (target >= 85%), against the raw
messages and against the labelled texts. CPU seconds (server + PostgreSQL vs.
this process) are reported too: they move less with the machine's load than
wall time.

With `--baseline-code TREE` a second server runs from another source tree
(put first on its PYTHONPATH, e.g. `git archive` of an older commit) and
ingests the same conversations as a fourth interleaved side: a before/after
under the same load.

    python benchmarks/bench_ingest.py [--full] [--rounds N] [--baseline-code TREE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import Server, load_average, postgres_cpu_seconds, realtalk_texts, write_result  # noqa: E402

# One small conversation (410 messages) keeps `make bench` short; --full ingests all ten (8,944).
QUICK = ("Chat_7_Nebraas_Vanessa",)


def index_texts(conv) -> list[str]:
    """The chunk texts ingest embeds for a conversation (default chunking: one labelled turn per chunk)."""
    from mcp_rag.chunking import Turn, chunk_turns

    turns = [Turn(i, t.dia_id, t.speaker, None, t.text, t.timestamp) for i, t in enumerate(conv.turns, start=1)]
    return [d.index_text for d in chunk_turns(turns, 120, 1, context=0, emit_from=1)]


def run(full: bool, rounds: int, baseline_code: str | None = None) -> dict:
    from mcp_rag.config import load_settings
    from mcp_rag.embed import get_embedder

    convs = realtalk_texts(None if full else QUICK)
    embedder = get_embedder(load_settings(env="test"))  # the server's defaults: batch 32, ONNX threads auto
    embedder.embed(["warm up the model"] * 8)

    names = ["bare", "indexed", "e2e"] + (["baseline"] if baseline_code else [])
    seconds = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    per_round: list[dict] = []
    loads: list[float] = []
    n_messages = 0
    with tempfile.TemporaryDirectory(prefix="mcp-rag-bench-ingest-") as tmp:
        data_dir = Path(tmp)
        data_dir.chmod(0o755)  # the embedded server runs as its own user
        base_dir = data_dir / "baseline"
        base_dir.mkdir(mode=0o755)
        with (
            Server(data_dir) as server,
            httpx.Client(base_url=server.url, timeout=600) as http,
            Server(base_dir, env={"PYTHONPATH": baseline_code}) if baseline_code else nullcontext() as base,
            httpx.Client(base_url=base.url if base else server.url, timeout=600) as base_http,
        ):
            warm = {"id": "warm", "messages": [{"author": "a", "content": "load the model and the database"}]}
            for srv, client in [(server, http)] + ([(base, base_http)] if base else []):
                srv.wait_ready()
                client.post("/v1/conversations", json=warm).raise_for_status()

            def bare(texts: list[str]) -> tuple[float, float]:
                c0, t0 = time.process_time(), time.perf_counter()
                embedder.embed(texts)
                return time.perf_counter() - t0, time.process_time() - c0

            def end_to_end(srv: Server, client: httpx.Client, body: dict, n: int) -> tuple[float, float]:
                pg = srv.log.parent / "pgdata"  # the server's data dir
                s0, p0, t0 = srv.cpu_seconds(), postgres_cpu_seconds(pg), time.perf_counter()
                resp = client.post("/v1/conversations", json=body)
                wall = time.perf_counter() - t0
                resp.raise_for_status()
                assert resp.json()["messages_added"] == n, resp.text
                return wall, srv.cpu_seconds() - s0 + postgres_cpu_seconds(pg) - p0

            for r in range(rounds):
                this = dict.fromkeys(names, 0.0)
                for conv in convs:
                    texts = [t.text for t in conv.turns]
                    labelled = index_texts(conv)
                    body = {**conv.ingest_body(), "id": f"{conv.name}-round-{r}"}
                    sides = {
                        "bare": lambda texts=texts: bare(texts),
                        "indexed": lambda labelled=labelled: bare(labelled),
                        "e2e": lambda body=body, n=len(texts): end_to_end(server, http, body, n),
                    }
                    if base:
                        sides["baseline"] = lambda body=body, n=len(texts): end_to_end(base, base_http, body, n)
                    k = r % len(sides)
                    order = list(sides)[k:] + list(sides)[:k]  # rotate: no side always goes first
                    loads.append(load_average())
                    for side in order:
                        wall, cpu_s = sides[side]()
                        seconds[side] += wall
                        this[side] += wall
                        cpu[side] += cpu_s
                    loads.append(load_average())
                    n_messages += len(texts)
                per_round.append(
                    {
                        "ratio": round(this["bare"] / this["e2e"], 3),
                        "ratio_vs_indexed_texts": round(this["indexed"] / this["e2e"], 3),
                        **(
                            {"baseline_ratio_vs_indexed_texts": round(this["indexed"] / this["baseline"], 3)}
                            if base
                            else {}
                        ),
                    }
                )
            rss = server.rss_mb()
    bare_rate, indexed_rate, e2e_rate = (n_messages / seconds[k] for k in ("bare", "indexed", "e2e"))
    return {
        "conversations": len(convs),
        "rounds": rounds,
        "messages": n_messages,
        "bare_sentences_per_s": round(bare_rate, 1),
        "ingest_messages_per_s": round(e2e_rate, 1),
        "ratio": round(e2e_rate / bare_rate, 3),
        "bare_indexed_texts_per_s": round(indexed_rate, 1),
        "ratio_vs_indexed_texts": round(e2e_rate / indexed_rate, 3),
        "ratio_per_round": per_round,
        "target_ratio": 0.85,
        "bare_cpu_s": round(cpu["bare"], 1),
        "bare_indexed_cpu_s": round(cpu["indexed"], 1),
        "ingest_cpu_s": round(cpu["e2e"], 1),
        "cpu_ratio": round(cpu["bare"] / cpu["e2e"], 3) if cpu["e2e"] else None,
        "cpu_ratio_vs_indexed_texts": round(cpu["indexed"] / cpu["e2e"], 3) if cpu["e2e"] else None,
        "server_rss_mb_after": rss,
        **(_baseline(baseline_code, n_messages, seconds, cpu) if baseline_code else {}),
        "load_average": {"min": min(loads), "max": max(loads)},
    }


def _baseline(code: str, n_messages: int, seconds: dict, cpu: dict) -> dict:
    rate = n_messages / seconds["baseline"]
    return {
        "baseline": {
            "code": code,
            "ingest_messages_per_s": round(rate, 1),
            "ratio": round(rate * seconds["bare"] / n_messages, 3),
            "ratio_vs_indexed_texts": round(rate * seconds["indexed"] / n_messages, 3),
            "ingest_cpu_s": round(cpu["baseline"], 1),
            "cpu_ratio_vs_indexed_texts": round(cpu["indexed"] / cpu["baseline"], 3),
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="all ten REALTALK conversations")
    parser.add_argument("--rounds", type=int, help="times each conversation is measured (default: 3 quick, 1 full)")
    parser.add_argument("--baseline-code", help="also ingest through a server run from this source tree (before/after)")
    args = parser.parse_args()
    result = run(args.full, args.rounds or (1 if args.full else 3), args.baseline_code)
    path = write_result("bench_ingest", result)
    print(
        f"ingest: {result['ingest_messages_per_s']} msg/s end to end vs {result['bare_sentences_per_s']} "
        f"sentences/s bare model = {result['ratio']:.0%} (target >= 85%); vs the labelled chunk texts "
        f"{result['bare_indexed_texts_per_s']}/s = {result['ratio_vs_indexed_texts']:.0%}; "
        f"CPU ratio {result['cpu_ratio']} (vs labelled {result['cpu_ratio_vs_indexed_texts']}); "
        f"load {result['load_average']['min']}-{result['load_average']['max']}  -> {path}"
    )
    if "baseline" in result:
        b = result["baseline"]
        print(
            f"baseline ({b['code']}): {b['ingest_messages_per_s']} msg/s = {b['ratio']:.0%} of the bare model, "
            f"{b['ratio_vs_indexed_texts']:.0%} vs the labelled texts; "
            f"CPU ratio vs labelled {b['cpu_ratio_vs_indexed_texts']}"
        )


if __name__ == "__main__":
    main()
