"""Ingest throughput end to end against the bare embedding model, same texts, same run.

For each REALTALK conversation, alternately:
  - bare: the ONNX model alone (this process, same batch size and threads as
    the server) embeds the conversation's message texts;
  - end to end: `POST /v1/conversations` to a real `mcp-rag serve` (JSON,
    validation, chunking, embedding, BM25 terms, one transaction with bulk
    inserts, statistics triggers).
Alternating conversation by conversation keeps both sides under the same
background load; the headline is the ratio of messages/s to sentences/s
(target >= 85%). CPU seconds (server + PostgreSQL vs. this process) are
reported too: they move less with the machine's load than wall time.

    python benchmarks/bench_ingest.py [--full]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import Server, load_average, realtalk_texts, write_result  # noqa: E402

# One small conversation (410 messages) keeps `make bench` short; --full ingests all ten (8,944).
QUICK = ("Chat_7_Nebraas_Vanessa",)


def postgres_cpu(pgdata: Path) -> float:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        root = psutil.Process(pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total
    except (OSError, ValueError, psutil.Error):
        return 0.0


def index_texts(conv) -> list[str]:
    """The chunk texts ingest embeds for a conversation (default chunking: one labelled turn per chunk)."""
    from mcp_rag.chunking import Turn, chunk_turns

    turns = [Turn(i, t.dia_id, t.speaker, None, t.text, t.timestamp) for i, t in enumerate(conv.turns, start=1)]
    return [d.index_text for d in chunk_turns(turns, 120, 1, context=0, emit_from=1)]


def run(full: bool) -> dict:
    from mcp_rag.config import load_settings
    from mcp_rag.embed import get_embedder

    convs = realtalk_texts(None if full else QUICK)
    embedder = get_embedder(load_settings(env="test"))  # the server's defaults: batch 32, ONNX threads auto
    embedder.embed(["warm up the model"] * 8)

    bare_s = bare_cpu = e2e_s = e2e_cpu = indexed_s = 0.0
    loads: list[float] = []
    n_messages = 0
    with tempfile.TemporaryDirectory(prefix="mcp-rag-bench-ingest-") as tmp:
        data_dir = Path(tmp)
        data_dir.chmod(0o755)  # the embedded server runs as its own user
        with Server(data_dir) as server, httpx.Client(base_url=server.url, timeout=600) as http:
            server.wait_ready()
            warm = {"id": "warm", "messages": [{"author": "a", "content": "load the model and the database"}]}
            http.post("/v1/conversations", json=warm).raise_for_status()
            pgdata = data_dir / "pgdata"
            for conv in convs:
                texts = [t.text for t in conv.turns]
                loads.append(load_average())
                c0, t0 = time.process_time(), time.perf_counter()
                embedder.embed(texts)
                bare_s += time.perf_counter() - t0
                bare_cpu += time.process_time() - c0

                # The texts the pipeline really embeds: each turn with its speaker and date label.
                t0 = time.perf_counter()
                embedder.embed(index_texts(conv))
                indexed_s += time.perf_counter() - t0

                s0, p0, t0 = server.cpu_seconds(), postgres_cpu(pgdata), time.perf_counter()
                resp = http.post("/v1/conversations", json=conv.ingest_body())
                e2e_s += time.perf_counter() - t0
                resp.raise_for_status()
                e2e_cpu += server.cpu_seconds() - s0 + postgres_cpu(pgdata) - p0
                assert resp.json()["messages_added"] == len(texts), resp.text
                n_messages += len(texts)
                loads.append(load_average())
            rss = server.rss_mb()
    bare_rate, e2e_rate = n_messages / bare_s, n_messages / e2e_s
    return {
        "conversations": len(convs),
        "messages": n_messages,
        "bare_sentences_per_s": round(bare_rate, 1),
        "ingest_messages_per_s": round(e2e_rate, 1),
        "ratio": round(e2e_rate / bare_rate, 3),
        "bare_indexed_texts_per_s": round(n_messages / indexed_s, 1),
        "ratio_vs_indexed_texts": round(e2e_rate / (n_messages / indexed_s), 3),
        "target_ratio": 0.85,
        "bare_cpu_s": round(bare_cpu, 1),
        "ingest_cpu_s": round(e2e_cpu, 1),
        "cpu_ratio": round(bare_cpu / e2e_cpu, 3) if e2e_cpu else None,
        "server_rss_mb_after": rss,
        "load_average": {"min": min(loads), "max": max(loads)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="all ten REALTALK conversations")
    args = parser.parse_args()
    result = run(args.full)
    path = write_result("bench_ingest", result)
    print(
        f"ingest: {result['ingest_messages_per_s']} msg/s end to end vs {result['bare_sentences_per_s']} "
        f"sentences/s bare model = {result['ratio']:.0%} (target >= 85%); vs the labelled chunk texts "
        f"{result['bare_indexed_texts_per_s']}/s = {result['ratio_vs_indexed_texts']:.0%}; "
        f"CPU ratio {result['cpu_ratio']}; "
        f"load {result['load_average']['min']}-{result['load_average']['max']}  -> {path}"
    )


if __name__ == "__main__":
    main()
