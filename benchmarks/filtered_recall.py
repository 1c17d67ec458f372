"""Recall of filtered vector search: the vector arm's top 10 against exact filtered ranking.

    python benchmarks/filtered_recall.py [--shortlist 100,200,400,800]
    python benchmarks/filtered_recall.py --chunks 100000 [--queries 60]

By default it ingests the REALTALK conversations (real turns, the product's
model) into a database under --cache once, then asks every REALTALK question
filtered three ways: to one of its conversation's participants, to the last 30%
of the time span, and to all of it (the widest filter: the sign bits shortlist
a few hundred of ~9,000 chunks). With --chunks N it asks bench_search.py's
filtered questions on its synthetic database of N chunks instead (built on
first use, see bench_search.py).

For each question it compares, with the exact filtered top 10 (every match
ranked by its full vector), the arm ranked by sign bits at each --shortlist
length (`arms.vector_arm(by_bits=True)`) and the arm search itself picks
(`arms.ranks_by_bits`), and prints their mean overlap@10 per filter.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realtalk  # noqa: E402
from bench_common import REALTALK, load_average, write_result  # noqa: E402
from bench_search import FILTER_KINDS, ensure_built, filters, prepare, questions  # noqa: E402

from mcp_rag import lookup  # noqa: E402
from mcp_rag.config import load_settings  # noqa: E402
from mcp_rag.models import ConversationIn, SearchFilters  # noqa: E402
from mcp_rag.service import Service  # noqa: E402
from mcp_rag.store import arms, driver  # noqa: E402


def realtalk_service(cache: Path) -> tuple[Service, list[tuple[str, str, dict]]]:
    """The REALTALK database (ingested on first use) and its questions, each with three filters."""
    data_dir = cache / "realtalk"
    fresh = not (data_dir / "ingested.txt").exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)  # the embedded server runs as its own user
    service = Service(load_settings(data_dir=data_dir, env="test"))
    conversations = realtalk.load(REALTALK, "all")
    if fresh:
        for conv in conversations:
            service.ingest(ConversationIn.model_validate(conv.ingest_body()))
        (data_dir / "ingested.txt").write_text("all\n")
    with service.transaction(read_only=True) as conn:
        _, rows = driver.fetch(conn, "SELECT min(ended_at), max(ended_at) FROM chunks", {})
    first, last = rows[0]
    cases = []
    for conv in conversations:
        people = sorted({t.speaker for t in conv.turns})
        for j, q in enumerate(conv.questions):
            cases.append((q.question, "author", {"author": people[j % len(people)]}))
            cases.append((q.question, "last 30% of time", {"since": first + (last - first) * 0.7}))
            cases.append((q.question, "all of time", {"since": first}))
    return service, cases


def synthetic_service(cache: Path, n: int, queries: int) -> tuple[Service, list[tuple[str, str, dict]]]:
    """A bench_search.py database and its filtered questions (no single-conversation ones:
    they keep the planner's plan)."""
    data_dir, _ = ensure_built(cache, n)
    prepare(data_dir)
    service = Service(load_settings(data_dir=data_dir, env="test"))
    qs = questions()[20 : 20 + queries]
    kinds = [k for k in FILTER_KINDS if k != "conversation"]
    return service, [(q, kind, filters(i, kind)) for kind in kinds for i, q in enumerate(qs)]


def overlaps(service: Service, cases: list[tuple[str, str, dict]], shortlists: list[int]) -> dict:
    vectors = service.query_embedder.embed([c[0] for c in cases])
    dim = service.query_embedder.dimension
    found: dict[str, dict[str, list[float]]] = {}
    matches: dict[str, list[int]] = {}
    for (_, kind, body), vector in zip(cases, vectors, strict=True):
        with service.transaction(read_only=True) as conn:
            f = lookup.resolve(conn, "default", SearchFilters(**body))
            where, params = arms.filter_sql("default", f, None)
            params["qvec"] = np.asarray(vector, dtype=np.float32)
            _, rows = driver.fetch(
                conn,
                f"SELECT c.id, count(*) OVER () FROM chunks c WHERE {where} "
                f"ORDER BY (c.embedding::vector({dim}) <=> %(qvec)s) + 0, c.id LIMIT 10",
                params,
            )
            truth = {r[0] for r in rows}
            matches.setdefault(kind, []).append(rows[0][1] if rows else 0)
            per = found.setdefault(kind, {})
            for length in shortlists:
                arms.BITS_SHORTLIST = length
                arm = arms.vector_arm(conn, "default", vector, dim, f, None, 10, by_bits=True)
                per.setdefault(f"shortlist {length}", []).append(len(truth & {r["id"] for r in arm[:10]}) / 10)
            arms.BITS_SHORTLIST = DEFAULT_SHORTLIST
            by_bits = arms.ranks_by_bits(conn, "default", f, None, arms.tune_vector_scan(conn, 10))
            arm = arms.vector_arm(conn, "default", vector, dim, f, None, 10, by_bits)
            per.setdefault("as searched", []).append(len(truth & {r["id"] for r in arm[:10]}) / 10)
            per.setdefault("ranked by bits as searched", []).append(float(by_bits))
    return {
        kind: {
            "questions": len(matches[kind]),
            "matches_median": statistics.median(matches[kind]),
            **{name: round(statistics.fmean(v), 4) for name, v in per.items()},
            **{f"{name} min": min(v) for name, v in per.items() if name.startswith("shortlist")},
        }
        for kind, per in found.items()
    }


DEFAULT_SHORTLIST = arms.BITS_SHORTLIST


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, help="a bench_search.py database of this many chunks instead of REALTALK")
    parser.add_argument("--queries", type=int, default=60, help="questions per filter (with --chunks)")
    parser.add_argument("--shortlist", default="100,200,400,800", help="shortlist lengths to try")
    parser.add_argument("--cache", type=Path, default=Path("/var/tmp/mcp-rag-bench"))
    args = parser.parse_args()
    shortlists = [int(x) for x in args.shortlist.split(",")]
    load = [load_average()]
    if args.chunks:
        service, cases = synthetic_service(args.cache, args.chunks, args.queries)
    else:
        service, cases = realtalk_service(args.cache)
    try:
        by_filter = overlaps(service, cases, shortlists)
    finally:
        service.close()
    load.append(load_average())
    name = f"filtered_recall_{args.chunks}" if args.chunks else "filtered_recall_realtalk"
    path = write_result(name, {"overlap_at_10": by_filter, "load_average": load})
    for kind, r in by_filter.items():
        figures = ", ".join(f"{k} {v}" for k, v in r.items() if k != "questions")
        print(f"{kind} ({r['questions']} questions): {figures}")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
