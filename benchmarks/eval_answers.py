"""Answer quality of the offline extractive answerer on REALTALK, through the product's service.

    python benchmarks/eval_answers.py --data ../shared/data/realtalk [--split all|tune|heldout] [--limit N]
                                      [--baseline-code DIR]

Starts a fresh embedded PostgreSQL in a temporary data directory, ingests each
REALTALK conversation with `Service.ingest` (one message per turn, `dia_id` as
the message id, the turn's date as its timestamp), then asks every question
with `Service.ask` scoped to its conversation, with no language model
configured (`answer_provider = extractive`).

Answerable questions are REALTALK's own. Unanswerable ones are built from the
data: each conversation is asked the other conversations' questions, keeping
only those about things it never mentions. A question from conversation B is
kept for conversation A when, against every word A's turns and speaker names
contain (stemmed, stop words dropped),

- none of the reference answer's words occurs in A (the answer is nowhere
  in A), and
- at least two of the question's own words never occur in A (its topic is
  nowhere in A: "How many times has Elise been to Turks and Caicos?" asked of
  a chat that never names Turks or Caicos).

Names are not swapped: a person both chats share (the same friend appears in
several REALTALK chats) keeps their name, so many unanswerable questions name
someone who is in A. At most UNANSWERABLE_PER_CONVERSATION are kept per
conversation, chosen by a hash of the question text. `--show-unanswerable N`
prints a sample to read.

Scores, per category and per half (tune = odd chats, held-out = even ones):

- token F1: SQuAD-style token overlap between the answer text and the
  reference answer (lowercased, punctuation and articles removed, and dates
  spelt one way on both sides: "24.01.2024", "Jan 24, 2024" and "24 January,
  2024" are the same three words, leading zeros dropped). The citation
  markers ([3]) are removed first; speaker names and quotes stay, so an
  extractive answer pays for every word it shows;
- cited evidence: share of answers whose citations include an evidence turn;
- retrieved evidence: share whose retrieved sources include an evidence turn
  (the ceiling the answerer works under);
- false abstention: share of answerable questions answered `found: false`;
- abstention: share of unanswerable questions answered `found: false`;
- p95 latency of an answer (answerable questions).

`--baseline-code DIR` first runs the same evaluation on another checkout of
the project (e.g. a clone of main) in a child process, then prints both
tables, so before and after come from one run on one machine. Code without a
`found` field counts an answer as found unless it is the not-found sentence.
Results go to benchmarks/results/eval_answers.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

RESULTS = ROOT / "benchmarks" / "results" / "eval_answers.json"
CATEGORIES = {1: "1 multi-turn facts", 2: "2 temporal", 3: "3 inference"}
UNANSWERABLE_PER_CONVERSATION = 30


MONTHS = "january february march april may june july august september october november december".split()
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"


def _dates_written_out(text: str) -> str:
    """One spelling for a date, whichever way it was written: "24.01.2024", "Jan 24, 2024",
    "24 January, 2024" all become "24 january 2024"."""

    def month(name: str) -> str:
        return next(m for m in MONTHS if m.startswith(name[:3]))

    def dotted(m: re.Match) -> str:
        return f"{int(m[1])} {MONTHS[int(m[2]) - 1]} {m[3]}" if 1 <= int(m[2]) <= 12 else m[0]

    text = re.sub(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b", dotted, text)
    text = re.sub(
        rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b",
        lambda m: f"{int(m[2])} {month(m[1])} {m[3]}",
        text,
    )
    return re.sub(
        rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+(\d{{4}})\b",
        lambda m: f"{int(m[1])} {month(m[2])} {m[3]}",
        text,
    )


def normalise(text: str) -> list[str]:
    text = _dates_written_out(re.sub(r"\[\d+\]", " ", text.lower()))
    text = "".join(" " if ch in string.punctuation or ch in "“”‘’…—" else ch for ch in text)
    return [(w.lstrip("0") or w) if w.isdigit() else w for w in text.split() if w not in {"a", "an", "the"}]


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalise(prediction), normalise(reference)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def unanswerable(conversations, terms) -> dict[str, list]:
    """Per conversation name: questions of the other conversations about things it never mentions."""
    vocab = {}
    for conv in conversations:
        words: set[str] = set()
        for t in conv.turns:
            words.update(terms(t.text))
        for speaker in conv.speakers:
            words.update(terms(speaker))
        vocab[conv.name] = words
    out: dict[str, list] = {}
    for a in conversations:
        kept = []
        for b in conversations:
            if b.name == a.name:
                continue
            for q in b.questions:
                answer_terms = set(terms(q.answer))
                absent = [t for t in dict.fromkeys(terms(q.question)) if t not in vocab[a.name]]
                if answer_terms and not answer_terms & vocab[a.name] and len(absent) >= 2:
                    kept.append(q)
        kept.sort(key=lambda q: hashlib.sha256(f"{a.name}|{q.question}".encode()).hexdigest())
        out[a.name] = kept[:UNANSWERABLE_PER_CONVERSATION]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "realtalk"))
    parser.add_argument("--split", default="all", choices=["all", "tune", "heldout"])
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--limit", type=int, default=0, help="questions per conversation (0 = all)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--data-dir", help="keep the database here and reuse it (re-ingesting adds nothing)")
    parser.add_argument("--code", help="run the mcp_rag package found in this checkout instead of this one")
    parser.add_argument("--baseline-code", help="also evaluate this checkout first and print both tables")
    parser.add_argument("--show-unanswerable", type=int, default=0, help="print N unanswerable questions and stop")
    args = parser.parse_args()

    baseline = None
    if args.baseline_code:
        baseline = run_baseline(args)
    # The package under test is imported only now, from --code when given.
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(Path(args.code).resolve() if args.code else ROOT))
    import realtalk

    from mcp_rag.search.terms import terms

    conversations = realtalk.load(args.data, args.split)
    others = unanswerable(realtalk.load(args.data, "all"), terms)
    if args.show_unanswerable:
        for conv in conversations:
            for q in others[conv.name][: max(1, args.show_unanswerable // len(conversations))]:
                print(f"{conv.name:<26} {q.question}  ->  {q.answer}")
        return 0

    from mcp_rag.config import load_settings
    from mcp_rag.service import Service

    with tempfile.TemporaryDirectory(prefix="mcp-rag-eval-answers-") as tmp:
        data_dir = Path(args.data_dir) if args.data_dir else Path(tmp)
        settings = load_settings(data_dir=data_dir, env="test", answer_provider="extractive")
        service = Service(settings)
        try:
            rows, ingest_s = run(service, conversations, others, args.top_k, args.limit, realtalk.TUNE)
        finally:
            service.close()

    report = summarise(rows)
    report.update(
        code=str(Path(args.code).resolve()) if args.code else str(ROOT),
        split=args.split,
        top_k=args.top_k,
        context_tokens=settings.answer_context_tokens,
        questions=len(rows),
        ingest_seconds=round(ingest_s, 1),
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"report": report, "answers": rows}, indent=1, ensure_ascii=False) + "\n")
    if baseline is not None:
        print(f"before: {baseline['code']}")
        print_table(baseline)
        print(f"\nafter: {report['code']}")
    print_table(report)
    if baseline is not None:
        print_ratios(baseline, report)
    print(f"\nwrote {out}")
    return 0


def run_baseline(args: argparse.Namespace) -> dict:
    """The same evaluation of another checkout, in a child process (its own imports and database)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, __file__, "--data", args.data, "--split", args.split, "--top-k", str(args.top_k)]
        cmd += ["--limit", str(args.limit), "--code", args.baseline_code, "--out", out.name]
        env = {**os.environ, "PYTHONPATH": str(Path(args.baseline_code).resolve())}
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        return json.loads(Path(out.name).read_text())["report"]


def run(service, conversations, others, top_k: int, limit: int, tune) -> tuple[list[dict], float]:
    from mcp_rag.models import AskRequest, ConversationIn
    from mcp_rag.prompt import NOT_FOUND

    started = time.perf_counter()
    for conv in conversations:
        service.ingest(ConversationIn.model_validate(conv.ingest_body()))
    ingest_s = time.perf_counter() - started
    rows: list[dict] = []
    for conv in conversations:
        split = "tune" if conv.name in tune else "heldout"
        asked = [(q, True) for q in conv.questions if q.scorable][: limit or None]
        asked += [(q, False) for q in others[conv.name][: limit or None]]
        for q, answerable in asked:
            began = time.perf_counter()
            result = service.ask(AskRequest(question=q.question, top_k=top_k, conversation_id=conv.name))
            seconds = time.perf_counter() - began
            cited = {m for c in result.citations for m in c.message_ids}
            retrieved = {m for h in result.sources for m in h.message_ids}
            found = getattr(result, "found", result.answer != NOT_FOUND)
            rows.append(
                {
                    "conversation": conv.name,
                    "split": split,
                    "category": q.category,
                    "answerable": answerable,
                    "question": q.question,
                    "reference": q.answer,
                    "answer": result.answer,
                    "found": found,
                    "f1": round(token_f1(result.answer, q.answer), 4) if answerable else None,
                    "cited_evidence": bool(cited & set(q.evidence)) if answerable else None,
                    "retrieved_evidence": bool(retrieved & set(q.evidence)) if answerable else None,
                    "seconds": round(seconds, 4),
                }
            )
    return rows, ingest_s


def _share(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _scores(rows: list[dict]) -> dict:
    yes = [r for r in rows if r["answerable"]]
    no = [r for r in rows if not r["answerable"]]
    times = sorted(r["seconds"] for r in yes)
    return {
        "n": len(yes),
        "f1": round(sum(r["f1"] for r in yes) / len(yes), 4) if yes else None,
        "cited_evidence": _share([r["cited_evidence"] for r in yes]),
        "retrieved_evidence": _share([r["retrieved_evidence"] for r in yes]),
        "false_abstention": _share([not r["found"] for r in yes]),
        "n_unanswerable": len(no),
        "abstention": _share([not r["found"] for r in no]),
        "p95_ms": round(1000 * times[min(len(times) - 1, int(0.95 * len(times)))], 1) if times else None,
    }


def summarise(rows: list[dict]) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        category = CATEGORIES.get(r["category"], str(r["category"]))
        for name in (f"{r['split']} / {category}", f"{r['split']} / all", f"all / {category}", "all / all"):
            groups[name].append(r)
    return {"groups": {k: _scores(v) for k, v in sorted(groups.items())}}


def _fmt(value, pattern: str) -> str:
    return format(value, pattern) if value is not None else "-"


def print_table(report: dict) -> None:
    header = (
        f"{'split / category':<28}{'n':>5}{'token F1':>9}{'cited ev':>10}{'retr ev':>9}{'false abst':>11}"
        f"{'n unans':>8}{'abstain':>9}{'p95 ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, s in report["groups"].items():
        print(
            f"{name:<28}{s['n']:>5}{_fmt(s['f1'], '.3f'):>9}{_fmt(s['cited_evidence'], '.1%'):>10}"
            f"{_fmt(s['retrieved_evidence'], '.1%'):>9}{_fmt(s['false_abstention'], '.1%'):>11}"
            f"{s['n_unanswerable']:>8}{_fmt(s['abstention'], '.1%'):>9}{_fmt(s['p95_ms'], '.0f'):>8}"
        )
    print(
        f"\n{report['questions']} questions, top_k {report['top_k']}, context {report['context_tokens']} tokens; "
        f"ingest {report['ingest_seconds']}s"
    )


def print_ratios(before: dict, after: dict) -> None:
    b, a = before["groups"]["all / all"], after["groups"]["all / all"]
    print(
        f"\nall / all: token F1 {b['f1']:.3f} -> {a['f1']:.3f}; cited/retrieved evidence "
        f"{b['cited_evidence'] / b['retrieved_evidence']:.2f} -> {a['cited_evidence'] / a['retrieved_evidence']:.2f}; "
        f"p95 {b['p95_ms']:.0f} -> {a['p95_ms']:.0f} ms ({a['p95_ms'] / b['p95_ms']:.2f}x)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
