"""Concurrent ingests into one namespace: they share BM25 term counts, which
PostgreSQL may resolve by aborting one writer (deadlock). Callers never see it:
the aborted transaction is re-run, and the counts stay exact."""

from __future__ import annotations

import random
import threading

from sqlalchemy import text

from mcp_rag.models import ConversationIn

WORDS = "boat snow hotel budget launch deadline invoice design review lunch train museum concert deploy".split()
THREADS, PER_THREAD, MESSAGES = 6, 6, 6


def conversation(k: int, n: int) -> ConversationIn:
    rng = random.Random(k * 1000 + n)
    # Every message is its own chunk over the same few words, in a different order:
    # concurrent writers lock the shared term rows in conflicting orders.
    return ConversationIn.model_validate(
        {
            "id": f"c-{k}-{n}",
            "messages": [{"author": "Ana", "content": " ".join(rng.sample(WORDS, 8))} for _ in range(MESSAGES)],
        }
    )


def test_concurrent_ingests_all_succeed_and_keep_term_counts_exact(service):
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def writer(k: int) -> None:
        start.wait()
        for n in range(PER_THREAD):
            try:
                service.ingest(conversation(k, n))
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors, [f"{type(e).__name__}: {e}" for e in errors[:5]]
    with service.connection() as conn:
        stored = conn.execute(text("SELECT count(*) FROM conversations WHERE namespace = 'default'")).scalar_one()
        chunks = conn.execute(text("SELECT count(*) FROM chunks WHERE namespace = 'default'")).scalar_one()
        counted = conn.execute(text("SELECT chunks FROM corpus_stats WHERE namespace = 'default'")).scalar_one()
        df_drift = conn.execute(
            text(
                "SELECT count(*) FROM term_stats s LEFT JOIN ("
                "  SELECT term, count(*) AS df FROM chunks, unnest(terms) AS term"
                "  WHERE namespace = 'default' GROUP BY term) t USING (term)"
                " WHERE s.namespace = 'default' AND s.df IS DISTINCT FROM t.df"
            )
        ).scalar_one()
    assert stored == THREADS * PER_THREAD
    assert chunks == counted == THREADS * PER_THREAD * MESSAGES
    assert df_drift == 0, "document frequencies match the chunks"
