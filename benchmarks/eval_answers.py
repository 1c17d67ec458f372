"""Answer quality of the offline extractive answerer on REALTALK, through the product's service.

    python benchmarks/eval_answers.py --data ../shared/data/realtalk [--split all|tune|heldout] [--limit N]

Starts a fresh embedded PostgreSQL in a temporary data directory, ingests each
REALTALK conversation with `Service.ingest` (one message per turn, `dia_id` as
the message id, the turn's date as its timestamp), then asks every question
with `Service.ask` scoped to its conversation, with no language model
configured (`answer_provider = extractive`). Scores, per category:

- token F1: SQuAD-style token overlap between the answer text and the
  reference answer (lowercased, punctuation and articles removed). The
  citation markers ([3]) are removed first; speaker names and quotes stay,
  so an extractive answer pays for every word it shows;
- cited evidence: share of answers whose citations include an evidence turn;
- evidence retrieved: share whose retrieved sources include an evidence turn
  (the ceiling the answerer works under);
- not found: share answered "Not found in the conversations".

The extractive answerer was tuned on the `tune` chats; the table shows the
`heldout` chats separately. Results go to benchmarks/results/eval_answers.json.
"""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
import realtalk  # noqa: E402

from mcp_rag.config import load_settings  # noqa: E402
from mcp_rag.models import AskRequest, ConversationIn  # noqa: E402
from mcp_rag.prompt import NOT_FOUND  # noqa: E402
from mcp_rag.service import Service  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "eval_answers.json"
CATEGORIES = {1: "1 multi-turn facts", 2: "2 temporal", 3: "3 inference"}


def normalise(text: str) -> list[str]:
    text = re.sub(r"\[\d+\]", " ", text.lower())
    text = "".join(" " if ch in string.punctuation or ch in "“”‘’…" else ch for ch in text)
    return [w for w in text.split() if w not in {"a", "an", "the"}]


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalise(prediction), normalise(reference)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not pred or not ref or common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "realtalk"))
    parser.add_argument("--split", default="all", choices=sorted(realtalk.SPLITS))
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--limit", type=int, default=0, help="questions per conversation (0 = all)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--data-dir", help="keep the database here and reuse it (re-ingesting adds nothing)")
    args = parser.parse_args()

    conversations = realtalk.load(args.data, args.split)
    with tempfile.TemporaryDirectory(prefix="mcp-rag-eval-answers-") as tmp:
        data_dir = Path(args.data_dir) if args.data_dir else Path(tmp)
        settings = load_settings(data_dir=data_dir, env="test", answer_provider="extractive")
        service = Service(settings)
        try:
            rows, ingest_s, ask_s = run(service, conversations, args.top_k, args.limit)
        finally:
            service.close()

    report = summarise(rows)
    report.update(
        split=args.split,
        top_k=args.top_k,
        context_tokens=settings.answer_context_tokens,
        questions=len(rows),
        ingest_seconds=round(ingest_s, 1),
        ask_seconds_mean=round(ask_s / max(1, len(rows)), 3),
    )
    print_table(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"report": report, "answers": rows}, indent=1, ensure_ascii=False) + "\n")
    print(f"\nwrote {out}")
    return 0


def run(service: Service, conversations, top_k: int, limit: int) -> tuple[list[dict], float, float]:
    started = time.perf_counter()
    for conv in conversations:
        service.ingest(ConversationIn.model_validate(conv.ingest_body()))
    ingest_s = time.perf_counter() - started
    rows: list[dict] = []
    started = time.perf_counter()
    for conv in conversations:
        split = "tune" if conv.name in realtalk.TUNE else "heldout"
        questions = [q for q in conv.questions if q.scorable]
        for q in questions[: limit or None]:
            result = service.ask(AskRequest(question=q.question, top_k=top_k, conversation_id=conv.name))
            cited = {m for c in result.citations for m in c.message_ids}
            retrieved = {m for h in result.sources for m in h.message_ids}
            rows.append(
                {
                    "conversation": conv.name,
                    "split": split,
                    "category": q.category,
                    "question": q.question,
                    "reference": q.answer,
                    "answer": result.answer,
                    "f1": round(token_f1(result.answer, q.answer), 4),
                    "cited_evidence": bool(cited & set(q.evidence)),
                    "retrieved_evidence": bool(retrieved & set(q.evidence)),
                    "not_found": result.answer == NOT_FOUND,
                }
            )
    return rows, ingest_s, time.perf_counter() - started


def _scores(rows: list[dict]) -> dict:
    n = len(rows) or 1
    return {
        "n": len(rows),
        "f1": round(sum(r["f1"] for r in rows) / n, 4),
        "cited_evidence": round(sum(r["cited_evidence"] for r in rows) / n, 4),
        "retrieved_evidence": round(sum(r["retrieved_evidence"] for r in rows) / n, 4),
        "not_found": round(sum(r["not_found"] for r in rows) / n, 4),
    }


def summarise(rows: list[dict]) -> dict:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[f"{r['split']} / {CATEGORIES.get(r['category'], r['category'])}"].append(r)
        groups[f"{r['split']} / all"].append(r)
        groups[f"all / {CATEGORIES.get(r['category'], r['category'])}"].append(r)
        groups["all / all"].append(r)
    return {"groups": {k: _scores(v) for k, v in sorted(groups.items())}}


def print_table(report: dict) -> None:
    header = f"{'split / category':<32}{'n':>5}{'token F1':>10}{'cited ev.':>11}{'retr. ev.':>11}{'not found':>11}"
    print(header)
    print("-" * len(header))
    for name, s in report["groups"].items():
        print(
            f"{name:<32}{s['n']:>5}{s['f1']:>10.3f}{s['cited_evidence']:>11.1%}"
            f"{s['retrieved_evidence']:>11.1%}{s['not_found']:>11.1%}"
        )
    print(
        f"\n{report['questions']} questions, top_k {report['top_k']}, context {report['context_tokens']} tokens; "
        f"ingest {report['ingest_seconds']}s, {report['ask_seconds_mean'] * 1000:.0f} ms per answer"
    )


if __name__ == "__main__":
    raise SystemExit(main())
