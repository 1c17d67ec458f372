"""Retrieval quality on REALTALK, measured through the product's public REST API.

    python benchmarks/eval_realtalk.py --data ../shared/data/realtalk [--split tune|heldout|all]

Starts a real `mcp-rag serve` on a free loopback port with a fresh data
directory, ingests each REALTALK conversation with POST /v1/conversations (one
message per turn), asks every question with POST /v1/search scoped to its
conversation, and scores the hits against the evidence turns:

- recall@5 / recall@10: share of evidence turns inside the first 5 / 10 hits;
- MRR: 1 / rank of the first hit holding any evidence turn;
- budgeted recall at 200 / 400 words: hits are read in rank order, message by
  message, and reading stops before the message that would pass the budget.
  Words are counted on the message text, each message once, so a search that
  returns bigger chunks pays for them and cannot buy recall for free.

A plain BM25 over single turns (Okapi, k1 = 1.2, b = 0.75, lowercase word
tokens) is scored the same way in the same run, so the ratios are like for
like. Also measured: the bare embedding model's throughput on the turn texts
and end-to-end ingest throughput. Results go to benchmarks/results/eval_realtalk.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realtalk  # noqa: E402

TOP_K = 50
BUDGETS = (200, 400)
CURVE_BUDGETS = (50, 100, 200, 300, 400, 600, 800)
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "eval_realtalk.json"


# -- scoring ---------------------------------------------------------------------------
def recall_at(evidence: set[str], ranked: Sequence[Sequence[str]], k: int) -> float:
    found = {m for hit in ranked[:k] for m in hit} & evidence
    return len(found) / len(evidence)


def reciprocal_rank(evidence: set[str], ranked: Sequence[Sequence[str]]) -> float:
    return next((1.0 / r for r, hit in enumerate(ranked, start=1) if evidence & set(hit)), 0.0)


def budgeted_recall(evidence: set[str], ranked: Sequence[Sequence[str]], words: dict[str, int], budget: int) -> float:
    """Evidence found while reading hits in order until `budget` words of message text."""
    seen: set[str] = set()
    spent = 0
    for hit in ranked:
        for m in hit:
            if m in seen:
                continue
            if spent + words[m] > budget:
                return len(seen & evidence) / len(evidence)
            seen.add(m)
            spent += words[m]
    return len(seen & evidence) / len(evidence)


def score(evidence: set[str], ranked: Sequence[Sequence[str]], words: dict[str, int]) -> dict[str, float]:
    row = {
        "r@5": recall_at(evidence, ranked, 5),
        "r@10": recall_at(evidence, ranked, 10),
        "mrr": reciprocal_rank(evidence, ranked),
    }
    for b in CURVE_BUDGETS:
        row[f"r@{b}w"] = budgeted_recall(evidence, ranked, words, b)
    return row


# -- the BM25-over-turns baseline ------------------------------------------------------
_TOKEN = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class BM25:
    """Okapi BM25 over a list of documents, the textbook way (Lucene's idf, no stemming)."""

    def __init__(self, docs: Iterable[str], k1: float = 1.2, b: float = 0.75):
        self.docs = [Counter(tokens(d)) for d in docs]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / max(len(self.docs), 1)
        df = Counter(t for d in self.docs for t in d)
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.k1, self.b = k1, b

    def rank(self, query: str, k: int) -> list[int]:
        terms = set(tokens(query)) & self.idf.keys()
        scores = []
        for i, (doc, length) in enumerate(zip(self.docs, self.lengths, strict=True)):
            norm = self.k1 * (1 - self.b + self.b * length / self.avg)
            s = sum(self.idf[t] * doc[t] * (self.k1 + 1) / (doc[t] + norm) for t in terms if t in doc)
            if s > 0:
                scores.append((-s, i))
        return [i for _, i in sorted(scores)[:k]]


def bm25_rankings(conversations: list[realtalk.Conversation]) -> dict[tuple[str, int], list[list[str]]]:
    ranked = {}
    for conv in conversations:
        index = BM25(t.text for t in conv.turns)
        for qi, q in enumerate(conv.questions):
            ranked[(conv.name, qi)] = [[conv.turns[i].dia_id] for i in index.rank(q.question, TOP_K)]
    return ranked


# -- the product, through its REST API ---------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `mcp-rag serve` subprocess with a throw-away data directory."""

    def __init__(self, extra_env: dict[str, str] | None = None):
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="mcp-rag-eval-"))
        self.log = open(self.data_dir / "server.log", "wb")  # noqa: SIM115
        env = {
            **os.environ,
            "MCP_RAG_ENV": "test",
            "MCP_RAG_DATA_DIR": str(self.data_dir),
            "MCP_RAG_RATE_LIMIT_PER_MINUTE": "0",  # the eval is one fast client, not abuse
            **(extra_env or {}),
        }
        exe = Path(sys.executable).with_name("mcp-rag")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mcp_rag.cli"]
        self.proc = subprocess.Popen(
            [*cmd, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mcp-rag serve exited; see {self.data_dir / 'server.log'}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError("mcp-rag serve did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def product_rankings(conversations: list[realtalk.Conversation], url: str) -> tuple[dict, dict]:
    """Ingest every conversation, then ask every question; rankings and timings."""
    ranked: dict[tuple[str, int], list[list[str]]] = {}
    latencies: list[float] = []
    server_ms: list[float] = []
    with httpx.Client(base_url=url, timeout=600) as client:
        started = time.perf_counter()
        for conv in conversations:
            resp = client.post("/v1/conversations", json=conv.ingest_body())
            resp.raise_for_status()
        ingest_s = time.perf_counter() - started
        for conv in conversations:
            for qi, q in enumerate(conv.questions):
                t0 = time.perf_counter()
                resp = client.post(
                    "/v1/search", json={"query": q.question, "conversation_id": conv.name, "top_k": TOP_K}
                )
                latencies.append((time.perf_counter() - t0) * 1000)
                resp.raise_for_status()
                body = resp.json()
                server_ms.append(body["took_ms"])
                ranked[(conv.name, qi)] = [h["message_ids"] for h in body["hits"]]
        version = client.get("/version").json()
    messages = sum(len(c.turns) for c in conversations)
    timings = {
        "messages": messages,
        "ingest_seconds": round(ingest_s, 1),
        "ingest_messages_per_s": round(messages / ingest_s, 1),
        "search_p50_ms": round(statistics.median(latencies), 1),
        "search_p95_ms": round(statistics.quantiles(latencies, n=20)[18], 1),
        "search_server_p95_ms": round(statistics.quantiles(server_ms, n=20)[18], 1),
        "embedding_model": version.get("embedding_model"),
    }
    return ranked, timings


def model_throughput(conversations: list[realtalk.Conversation], sample: int = 2000) -> dict:
    """Sentences per second of the configured embedder alone, on REALTALK turn texts."""
    from mcp_rag.config import load_settings
    from mcp_rag.embed import get_embedder

    embedder = get_embedder(load_settings(env="test"))
    texts = [t.text for c in conversations for t in c.turns][:sample]
    embedder.embed(texts[:64])  # load the model and warm up outside the clock
    started = time.perf_counter()
    embedder.embed(texts)
    seconds = time.perf_counter() - started
    return {"model": embedder.name, "sentences": len(texts), "sentences_per_s": round(len(texts) / seconds, 1)}


# -- reporting ---------------------------------------------------------------------------
COLUMNS = ("r@5", "r@10", "mrr", "r@200w", "r@400w")


def aggregate(conversations, ranked) -> dict[str, dict[str, float]]:
    by_cat: dict[str, list[dict[str, float]]] = defaultdict(list)
    for conv in conversations:
        words = {t.dia_id: t.words for t in conv.turns}
        for qi, q in enumerate(conv.questions):
            if not q.scorable:
                continue
            row = score(set(q.evidence), ranked[(conv.name, qi)], words)
            by_cat[f"cat{q.category}"].append(row)
            by_cat["all"].append(row)
    return {
        cat: {"n": len(rows), **{k: round(statistics.fmean(r[k] for r in rows), 4) for k in rows[0]}}
        for cat, rows in sorted(by_cat.items(), key=lambda kv: (kv[0] == "all", kv[0]))
    }


def table(split: str, product: dict, baseline: dict) -> str:
    head = f"{'':10}{'n':>5}" + "".join(f"{c:>9}" for c in COLUMNS) + f"{'Δ200w':>9}{'Δ400w':>9}"
    lines = [f"== {split} ==", head]
    for name, res in (("product", product), ("bm25-turn", baseline)):
        for cat, row in res.items():
            cells = "".join(f"{row[c]:9.3f}" for c in COLUMNS)
            delta = ""
            if name == "product":
                delta = "".join(f"{row[c] - baseline[cat][c]:+9.3f}" for c in ("r@200w", "r@400w"))
            lines.append(f"{name[:5] + ' ' + cat:10}{row['n']:5d}{cells}{delta}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "realtalk")
    parser.add_argument("--split", choices=["tune", "heldout", "all"], help="report one split (default: all three)")
    parser.add_argument(
        "--out", default=str(RESULTS), help="a JSON file, or a folder (existing, or ending in /) to write its name in"
    )
    parser.add_argument("--no-throughput", action="store_true", help="skip the bare-model throughput run")
    args = parser.parse_args()

    conversations = realtalk.load(args.data, "all")
    server = Server()
    try:
        server.wait_ready()
        ranked, timings = product_rankings(conversations, server.url)
    finally:
        server.stop()
    baseline = bm25_rankings(conversations)
    if not args.no_throughput:
        timings["model"] = model_throughput(conversations)

    splits = [args.split] if args.split else ["tune", "heldout", "all"]
    report = {"top_k": TOP_K, "timings": timings, "splits": {}}
    for split in splits:
        convs = [c for c in conversations if c.name in realtalk.SPLITS[split]]
        product, base = aggregate(convs, ranked), aggregate(convs, baseline)
        report["splits"][split] = {"product": product, "bm25_turns": base}
        print(table(split, product, base), end="\n\n")
    print(json.dumps(timings, indent=2))
    out = Path(args.out)
    if out.is_dir() or args.out.endswith(("/", os.sep)):
        out = out / RESULTS.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    # The docs' plot is of the shipped configuration, the one written to the results file.
    if out == RESULTS and "all" in report["splits"] and plot(report["splits"]["all"], ROOT / "docs" / "retrieval.png"):
        print("plot: docs/retrieval.png")


def plot(result: dict, path: Path) -> bool:
    """Bars per category: product vs the BM25 baseline at both budgets, with the targets."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cats = list(result["product"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, (col, target) in zip(axes, (("r@200w", 0.65), ("r@400w", 0.75)), strict=True):
        xs = range(len(cats))
        ax.bar([x - 0.2 for x in xs], [result["bm25_turns"][c][col] for c in cats], 0.4, label="BM25 over turns")
        ax.bar([x + 0.2 for x in xs], [result["product"][c][col] for c in cats], 0.4, label="mcp-rag")
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target (all) {target}")
        ax.set_xticks(list(xs), [f"{c}\n(n={result['product'][c]['n']})" for c in cats])
        ax.set_title(f"budgeted recall, {col[2:-1]} words")
        ax.set_ylim(0, 1)
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle("REALTALK, all 10 conversations (make eval)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


if __name__ == "__main__":
    main()
