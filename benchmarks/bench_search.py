"""Search over HTTP at scale: latency, filters, concurrency, start-up, memory, size.

1. Builds (once, cached in --cache) an embedded database of N synthetic chunks:
   clustered unit vectors, BM25 term vectors computed by the product's own
   code from real REALTALK turns (cycled), 50 authors, 5 sources, two years of
   timestamps; bulk-loaded with binary COPY and indexed afterwards. The query
   side is real: every request is embedded by the server's model.
2. Starts `mcp-rag serve` on that database (PostgreSQL stopped first), timing
   spawn -> `/ready` 200 (median of --starts).
3. Warm latency, sequential, distinct REALTALK questions (no query repeats, so
   the query-embedding cache never helps): unfiltered, then filtered by author
   (2% of chunks), source (20%), time range (the last 5%) and one
   conversation (100 chunks), checking that
   every filtered request still returns a full top-k.
4. Repeated queries (cache hits), 16 concurrent clients for --seconds (closed
   loop: how fast a queue drains; the rate served within a p95 budget is
   bench_throughput.py's open-loop sweep), and the bare query-embedding rate
   (this process, one query at a time) as the ceiling.
5. RSS of the server idle and under load, PostgreSQL PSS, table and index sizes.

    python benchmarks/bench_search.py --chunks 100000
    python benchmarks/bench_search.py --chunks 1000000 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    Server,
    load_average,
    postgres_memory_mb,
    realtalk_texts,
    summary_ms,
    write_result,
)

DIM = 384
PER_CONVERSATION = 100
AUTHORS = [f"person{i:02d}" for i in range(50)]
SOURCES = ["slack", "chatgpt", "claude", "email", "support"]
START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
TOP_K = 10


# -- building the synthetic database ----------------------------------------------------
def _vectors(rng: np.random.Generator, centers: np.ndarray, n: int) -> np.ndarray:
    """Unit vectors around random centres: structure like real embeddings, at no model cost."""
    picked = centers[rng.integers(0, len(centers), n)]
    v = picked + rng.normal(0, 0.5 / np.sqrt(DIM), (n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def build(data_dir: Path, n: int) -> dict:
    """Create the database through the service (migrations, model row), then bulk-load chunks."""
    from pgvector import SparseVector
    from pgvector.psycopg import register_vector
    from sqlalchemy import text

    from mcp_rag.config import load_settings
    from mcp_rag.search import bm25, terms
    from mcp_rag.service import Service
    from mcp_rag.store import chunks as chunk_sql
    from mcp_rag.store import vector_index
    from mcp_rag.store import windows as window_sql

    started = time.perf_counter()
    service = Service(load_settings(data_dir=data_dir, env="test"))
    service.ensure_model()
    turns = [t for c in realtalk_texts() for t in c.turns]
    lines = [f"{AUTHORS[i % len(AUTHORS)]}: {t.text}" for i, t in enumerate(turns)]
    counts = [terms.term_counts(line) for line in lines]
    # avgdl over the whole synthetic corpus (lines are cycled).
    avgdl = sum(sum(counts[i % len(lines)].values()) for i in range(n)) / n
    lexical = [(sorted(c), sum(c.values()), SparseVector(bm25.document_weights(c, avgdl), terms.SPACE)) for c in counts]
    rng = np.random.default_rng(11)
    centers = rng.normal(size=(256, DIM)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)

    n_conv = (n + PER_CONVERSATION - 1) // PER_CONVERSATION
    raw = service.engine.raw_connection()
    try:
        conn = raw.driver_connection
        register_vector(conn)
        with conn.cursor() as cur:
            # Synthetic scale data goes in directly (the ingest path is measured by bench_ingest.py).
            cur.execute(f"DROP INDEX IF EXISTS {vector_index.index_name(DIM)}")
            cur.execute(
                "INSERT INTO conversations (id, namespace, external_id, title, source, started_at, ended_at, "
                "message_count) SELECT gen_random_uuid(), 'default', 'bench-' || i, 'synthetic ' || i, "
                "(ARRAY['slack','chatgpt','claude','email','support'])[1 + i %% 5], now(), now(), %s "
                "FROM generate_series(0, %s - 1) AS i",
                (PER_CONVERSATION, n_conv),
            )
            cur.execute("SELECT id, source FROM conversations WHERE namespace = 'default' ORDER BY title")
            convs = {}
            for cid, source in cur.fetchall():
                convs[len(convs)] = (cid, source)
            step = SPAN / n
            block = 10_000
            with cur.copy(chunk_sql.COPY_SQL) as copy:  # the product's own row layout
                copy.set_types(chunk_sql.COPY_TYPES)
                for lo in range(0, n, block):
                    vecs = _vectors(rng, centers, min(block, n - lo))
                    for j in range(lo, min(lo + block, n)):
                        k = j % len(lines)
                        cid, source = convs[j // PER_CONVERSATION]
                        seq = j % PER_CONVERSATION + 1
                        at = START + step * j
                        ids, n_terms, sparse = lexical[k]
                        copy.write_row(
                            (cid, "default", source, seq, seq, [str(seq)], [AUTHORS[j % len(AUTHORS)]],
                             ["user"], at, at, lines[k], vecs[j - lo], ids, n_terms, sparse)
                        )  # fmt: skip
        conn.commit()
        loaded = time.perf_counter() - started
    finally:
        raw.close()
    with service.engine.begin() as c:
        c.execute(text(PARTICIPANTS))
        # Room for the whole HNSW graph (~2 KB a chunk at 384-d): past it pgvector finishes the build on disk, slowly.
        c.execute(text(f"SET maintenance_work_mem = '{max(1, math.ceil(n * 2200 / 2**30))}GB'"))
        vector_index.ensure_vector_index(c, DIM)
        # The window arm's rows, by the product's own code from the chunks just loaded.
        window_sql.rebuild(c)
    with service.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE chunks"))
        c.execute(text("VACUUM ANALYZE chunk_terms"))
        c.execute(text("VACUUM ANALYZE chunk_bits"))
        c.execute(text("VACUUM ANALYZE chunk_windows"))
        c.execute(text("VACUUM ANALYZE conversations"))
    service.close()
    return {"load_s": round(loaded, 1), "build_s": round(time.perf_counter() - started, 1)}


# Each conversation's participants, as ingest records them: author filters are resolved against them.
PARTICIPANTS = (
    "UPDATE conversations c SET participants = ARRAY(SELECT DISTINCT a FROM chunks k, unnest(k.authors) a "
    "WHERE k.conversation_id = c.id ORDER BY a) WHERE cardinality(c.participants) = 0"
)


def prepare(data_dir: Path) -> None:
    """Bring a cached database to this checkout: its migrations, and participants where a
    database built before they were recorded has none."""
    from sqlalchemy import text

    from mcp_rag.config import load_settings
    from mcp_rag.service import Service

    service = Service(load_settings(data_dir=data_dir, env="test"))
    with service.engine.begin() as c:
        c.execute(text(PARTICIPANTS))
    service.close()


def sizes(data_dir: Path) -> dict:
    from sqlalchemy import text

    from mcp_rag.config import load_settings
    from mcp_rag.service import Service

    service = Service(load_settings(data_dir=data_dir, env="test"))
    with service.engine.connect() as c:
        row = c.execute(
            text(
                "SELECT (SELECT count(*) FROM chunks), pg_total_relation_size('chunks'), "
                "(SELECT sum(pg_relation_size(indexrelid)) FROM pg_index WHERE indrelid = 'chunks'::regclass), "
                "(SELECT pg_relation_size(indexname::regclass) FROM pg_indexes "
                " WHERE indexname LIKE 'chunks_embedding_hnsw_%' LIMIT 1), "
                "(SELECT sum(pg_relation_size(i)) FROM unnest(ARRAY['chunk_terms_terms'::regclass, "
                " 'chunk_bits_authors'::regclass]) AS i), pg_database_size(current_database()), "
                "pg_total_relation_size('chunk_terms'), pg_total_relation_size('chunk_bits')"
            )
        ).one()
    service.close()
    mb = 2**20
    return {
        "chunks": row[0],
        "chunks_table_with_indexes_mb": round(row[1] / mb, 1),
        "all_indexes_mb": round(row[2] / mb, 1),
        "hnsw_index_mb": round(row[3] / mb, 1),
        "gin_indexes_mb": round(row[4] / mb, 1),
        "database_mb": round(row[5] / mb, 1),
        "chunks_per_gb": round(row[0] / (row[5] / 2**30)),
        "chunk_terms_with_index_mb": round(row[6] / mb, 1),
        "chunk_bits_with_indexes_mb": round(row[7] / mb, 1),
    }


def ensure_built(cache: Path, n: int) -> tuple[Path, dict]:
    data_dir = cache / f"search-{n}"
    marker = data_dir / "built.txt"
    if marker.exists():
        return data_dir, {"reused": True, "built": marker.read_text().strip()}
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)  # the embedded server runs as its own user
    # A separate process: when it exits the embedded PostgreSQL stops, so start-up is measured cold.
    out = subprocess.run(
        [sys.executable, __file__, "--build", str(n), "--cache", str(cache)], capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    info = out.stdout.strip().splitlines()[-1]
    marker.write_text(info + "\n")
    return data_dir, {"reused": False, "built": info}


# -- measuring ------------------------------------------------------------------------
def questions() -> list[str]:
    qs = [q.question for c in realtalk_texts() for q in c.questions]
    random.Random(7).shuffle(qs)
    return list(dict.fromkeys(qs))


# The filters of the filtered questions: one author (2% of chunks), one source (20%), the last 5% of time,
# one conversation (100 chunks; among the first 1,000, which every database of 100k chunks or more holds).
FILTER_KINDS = ("author", "source", "recent", "conversation")


def filters(i: int, kind: str | None = None) -> dict:
    """The filter of the i-th filtered question: of `kind`, or of each kind in turn (FILTER_KINDS[i % 4])."""
    kind = kind or FILTER_KINDS[i % len(FILTER_KINDS)]
    if kind == "author":
        return {"author": AUTHORS[i % len(AUTHORS)]}
    if kind == "source":
        return {"source": SOURCES[i % len(SOURCES)]}
    if kind == "conversation":
        return {"conversation_id": f"bench-{i * 37 % 1000}"}
    return since(0.05)


def since(share: float) -> dict:
    """The filter keeping the last `share` (0-1) of the synthetic data's time span."""
    return {"since": (START + SPAN * (1 - share)).isoformat()}


def by_filter_kind(lat: list[float]) -> dict[str, dict]:
    """Latencies of questions filtered by `filters(i)` (i = 0, 1, ...), summarised per kind."""
    return {name: summary_ms(lat[k :: len(FILTER_KINDS)]) for k, name in enumerate(FILTER_KINDS)}


def sequential(
    http: httpx.Client, queries: list[str], with_filters: bool
) -> tuple[list[float], int, list[float], float]:
    """Latencies at the client, thin results, load samples, and the median of the server's own
    `took_ms` (inside the search: what the web layer and the client add is the difference)."""
    lat, thin, loads, took = [], 0, [], []
    for i, q in enumerate(queries):
        body = {"query": q, "top_k": TOP_K, **(filters(i) if with_filters else {})}
        t0 = time.perf_counter()
        resp = http.post("/v1/search", json=body)
        lat.append(time.perf_counter() - t0)
        resp.raise_for_status()
        result = resp.json()
        thin += len(result["hits"]) < TOP_K
        took.append(result["took_ms"])
        if i % 25 == 0:
            loads.append(load_average())
    return lat, thin, loads, statistics.median(took)


def interleaved(http: httpx.Client, plain_q: list[str], filtered_q: list[str]) -> tuple[dict, dict]:
    """Unfiltered and filtered questions alternately, so both see the same load: their
    latencies, and each filter kind's p95 as a multiple of the unfiltered p95."""
    plain, filtered, thin, loads, took = [], [], 0, [], {True: [], False: []}
    for i, (pq, fq) in enumerate(zip(plain_q, filtered_q, strict=False)):
        for with_filter, q, lat in ((False, pq, plain), (True, fq, filtered)):
            body = {"query": q, "top_k": TOP_K, **(filters(i) if with_filter else {})}
            t0 = time.perf_counter()
            resp = http.post("/v1/search", json=body)
            lat.append(time.perf_counter() - t0)
            resp.raise_for_status()
            result = resp.json()
            thin += with_filter and len(result["hits"]) < TOP_K
            took[with_filter].append(result["took_ms"])
        if i % 25 == 0:
            loads.append(load_average())
    load = {"min": min(loads), "max": max(loads)}
    base = summary_ms(plain)
    kinds = by_filter_kind(filtered)
    for summary in kinds.values():
        summary["p95_vs_unfiltered"] = round(summary["p95_ms"] / base["p95_ms"], 2)
    return (
        {**base, "service_p50_ms": statistics.median(took[False]), "load_average": load},
        {
            **summary_ms(filtered),
            "p95_vs_unfiltered": round(summary_ms(filtered)["p95_ms"] / base["p95_ms"], 2),
            "service_p50_ms": statistics.median(took[True]),
            "by_filter": kinds,
            "thin_results": thin,
            "load_average": load,
        },
    )


async def concurrent(url: str, queries: list[str], clients: int, seconds: float, server: Server) -> dict:
    lat: list[float] = []
    errors = 0
    rss: list[float] = []
    loads: list[float] = []
    counter = iter(range(10**9))
    deadline = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            k = next(counter)
            q = queries[k % len(queries)]
            q = q if k < len(queries) else f"{q} {k // len(queries)}"  # distinct: no cache hits
            t0 = time.perf_counter()
            try:
                resp = await http.post("/v1/search", json={"query": q, "top_k": TOP_K})
                resp.raise_for_status()
            except httpx.HTTPError:
                errors += 1
                continue
            lat.append(time.perf_counter() - t0)

    async def sample() -> None:
        while time.monotonic() < deadline:
            rss.append(server.rss_mb())
            loads.append(load_average())
            await asyncio.sleep(1)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(sample(), *(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests_per_s": round(len(lat) / elapsed, 1),
        "errors": errors,
        **summary_ms(lat),
        "rss_mb_max": max(rss) if rss else None,
        "load_average": {"min": min(loads), "max": max(loads)} if loads else None,
    }


def bare_query_rate(queries: list[str], seconds: float) -> dict:
    """The ceiling: the server's model embedding one query at a time, nothing else."""
    from mcp_rag.config import load_settings
    from mcp_rag.embed import get_query_embedder

    embedder = get_query_embedder(load_settings(env="test"))  # what the server embeds queries with
    embedder.embed(queries[:4])
    lat, load0 = [], load_average()
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        embedder.embed([queries[i % len(queries)]])
        lat.append(time.perf_counter() - t0)
        i += 1
    return {
        "queries_per_s": round(len(lat) / sum(lat), 1),
        **summary_ms(lat),
        "load_average": [load0, load_average()],
    }


def measure(data_dir: Path, n: int, args) -> dict:
    qs = questions()
    warm, seq_q, filt_q = qs[:20], qs[20 : 20 + args.queries], qs[20 + args.queries : 20 + 2 * args.queries]
    starts = []
    for _ in range(args.starts - 1):  # cold starts; the last one below stays up for the measurements
        with Server(data_dir) as s:
            starts.append(s.wait_ready())
    server = Server(data_dir)
    try:
        starts.append(server.wait_ready())
        startup = {"ready_s": [round(s, 2) for s in starts], "median_s": round(statistics.median(starts), 2)}
        startup["load_average"] = load_average()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            rss_before_model = server.rss_mb()
            sequential(http, warm, False)
            rss_idle = server.rss_mb()
            plain, filtered = interleaved(http, seq_q, filt_q)
            lat, _, loads, _ = sequential(http, seq_q[:50], False)
            repeated = {**summary_ms(lat), "load_average": {"min": min(loads), "max": max(loads)}}
        conc = asyncio.run(concurrent(server.url, qs[20 + 2 * args.queries :], args.clients, args.seconds, server))
        pg_mb = postgres_memory_mb(data_dir / "pgdata")
        rss_after = server.rss_mb()
    finally:
        server.stop()
    bare = bare_query_rate(qs, min(10.0, args.seconds))
    return {
        "startup": startup,
        "search_sequential": plain,
        "search_filtered": filtered,
        "search_repeated_query": repeated,
        "concurrent": conc,
        "bare_query_embedding": bare,
        "throughput_vs_ceiling": round(conc["requests_per_s"] / bare["queries_per_s"], 3),
        "memory": {
            "server_rss_mb_started": rss_before_model,
            "server_rss_mb_idle_model_loaded": rss_idle,
            "server_rss_mb_under_load_max": conc["rss_mb_max"],
            "server_rss_mb_after_load": rss_after,
            "postgres_pss_mb": pg_mb,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("/var/tmp/mcp-rag-bench"),
        help="where built databases are kept (not under a 0700 home: the embedded server runs as its own user)",
    )
    parser.add_argument("--queries", type=int, default=200, help="sequential requests per variant")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        print(build(args.cache / f"search-{args.build}", args.build))
        return
    data_dir, built = ensure_built(args.cache, args.chunks)
    prepare(data_dir)
    result = {"chunks_requested": args.chunks, "build": built, "size": sizes(data_dir)}
    result.update(measure(data_dir, args.chunks, args))
    path = write_result(f"bench_search_{args.chunks}", result)
    s, f, c = result["search_sequential"], result["search_filtered"], result["concurrent"]
    print(
        f"search @{args.chunks}: p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms (in the service {s['service_p50_ms']} ms;"
        f" load {s['load_average']}); "
        f"filtered p50 {f['p50_ms']} p95 {f['p95_ms']} ms = {f['p95_vs_unfiltered']}x unfiltered p95 ("
        + ", ".join(f"{k} {v['p50_ms']} / {v['p95_ms']} = {v['p95_vs_unfiltered']}x" for k, v in f["by_filter"].items())
        + f"), thin results {f['thin_results']}; "
        f"{c['clients']} clients: {c['requests_per_s']} req/s, p95 {c['p95_ms']} ms vs bare embedding "
        f"{result['bare_query_embedding']['queries_per_s']} q/s; ready in {result['startup']['median_s']} s; "
        f"RSS idle {result['memory']['server_rss_mb_idle_model_loaded']} MB, "
        f"under load {result['memory']['server_rss_mb_under_load_max']} MB  -> {path}"
    )


if __name__ == "__main__":
    main()
