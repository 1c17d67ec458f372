"""Import speed and memory on a generated Slack-shaped export.

Generates a workspace export zip (users.json, channels.json, one JSON array per
channel per day, ~1 in 5 messages in threads, some joins and bot posts as
noise), imports it into a fresh embedded database through the same service
call as `mcp-rag import`, then embeds the same chunk texts the import embedded,
alone, to show the importer's own overhead:

    messages/s          messages stored per second of import
    peak RSS            this process (parser, service, embedder); PostgreSQL runs in its own processes
    RSS growth          peak minus RSS before the import: flat memory means this stays small as N grows
    import / embedding  import time over pure embedding time of the same texts (1.0 = no overhead)

    .venv/bin/python benchmarks/import_slack.py                    # 200,000 messages (long: ~135 texts/s)
    .venv/bin/python benchmarks/import_slack.py --messages 5000    # a quick run
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from sqlalchemy import text

WORDS = (
    "deploy release customer ticket budget offsite lisbon meeting design review invoice latency database "
    "migration rollback incident pager alert dashboard roadmap sprint retro hiring onboarding laptop vpn "
    "coffee lunch friday deadline contract vendor pricing quota region cluster backup restore feature flag"
).split()


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24))).capitalize() + "."


def generate(path: Path, messages: int, channels: int, seed: int = 7) -> int:
    """Write a Slack export zip with `messages` human messages (plus noise); return how many were written."""
    rng = random.Random(seed)
    users = [{"id": f"U{i:06d}", "name": f"user{i}", "real_name": f"User {i}"} for i in range(200)]
    chans = [{"id": f"C{i:06d}", "name": f"channel-{i}"} for i in range(channels)]
    per_day = 150
    written = 0
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("users.json", json.dumps(users))
        z.writestr("channels.json", json.dumps(chans))
        day = 0
        while written < messages:
            for ch in chans:
                if written >= messages:
                    break
                base = (start + timedelta(days=day)).timestamp()
                batch, thread = [], None
                for i in range(min(per_day, messages - written)):
                    ts = f"{base + i * 60:.0f}.{i:06d}"
                    m = {"type": "message", "user": rng.choice(users)["id"], "text": sentence(rng), "ts": ts}
                    if thread and rng.random() < 0.2:
                        m["thread_ts"] = thread["ts"]
                        thread["reply_count"] = thread.get("reply_count", 0) + 1
                        thread["thread_ts"] = thread["ts"]
                    elif rng.random() < 0.05:
                        thread = m
                    batch.append(m)
                    written += 1
                    if rng.random() < 0.02:
                        batch.append({"type": "message", "subtype": "channel_join", "user": m["user"],
                                      "text": "has joined", "ts": f"{base + i * 60 + 1:.0f}.000000"})  # fmt: skip
                day_name = (start + timedelta(days=day)).strftime("%Y-%m-%d")
                z.writestr(f"{ch['name']}/{day_name}.json", json.dumps(batch))
            day += 1
    return written


class PeakRss:
    """Samples this process's RSS every 50 ms while running."""

    def __init__(self) -> None:
        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self.before = self.proc.memory_info().rss
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.thread.join()


def parse_only(messages: int, channels: int) -> None:
    """The importer alone: what it costs to stream the export into conversations, and whether memory stays flat."""
    from mcp_rag.importers import slack
    from mcp_rag.importers.base import Meter, Parsed, zip_tree

    with tempfile.TemporaryDirectory(prefix="mcp-rag-bench-") as tmp:
        export = Path(tmp) / "slack-export.zip"
        n = generate(export, messages, channels)
        print(f"generated {n} messages: {export.stat().st_size / 1e6:.1f} MB zipped")
        with PeakRss() as rss, zipfile.ZipFile(export) as archive:
            t0 = time.perf_counter()
            parsed = sum(
                len(i.conversation.messages)
                for i in slack.read_export(zip_tree(archive, export.name, Meter()))
                if isinstance(i, Parsed)
            )
            seconds = time.perf_counter() - t0
    mb = 1024 * 1024
    print(f"parsed {parsed} messages in {seconds:.1f} s: {parsed / seconds:.0f} messages/s")
    print(
        f"RSS before {rss.before / mb:.0f} MiB, peak {rss.peak / mb:.0f} MiB, "
        f"growth {(rss.peak - rss.before) / mb:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--parse-only", action="store_true", help="Only read the export (no database, no embedding)")
    args = parser.parse_args()
    if args.parse_only:
        return parse_only(args.messages, args.channels)

    from mcp_rag.config import load_settings
    from mcp_rag.service import Service

    with tempfile.TemporaryDirectory(prefix="mcp-rag-bench-") as tmp:
        export = Path(tmp) / "slack-export.zip"
        t0 = time.perf_counter()
        n = generate(export, args.messages, args.channels)
        print(f"generated {n} messages in {time.perf_counter() - t0:.1f}s: {export.stat().st_size / 1e6:.1f} MB zipped")

        service = Service(load_settings(data_dir=Path(tmp) / "data", env="test"))
        service.ready()
        service.embedder.embed(["warm up the model"])  # model load is not import work
        with PeakRss() as rss:
            t0 = time.perf_counter()
            result = service.import_files([(export.name, export)])
            import_s = time.perf_counter() - t0
        with service.engine.connect() as conn:
            texts = list(conn.execute(text("SELECT text FROM chunks ORDER BY id")).scalars())
        t0 = time.perf_counter()
        for start in range(0, len(texts), 256):
            service.embedder.embed(texts[start : start + 256])
        embed_s = time.perf_counter() - t0
        service.close()

    mb = 1024 * 1024
    print(f"imported {result.messages_added} messages in {result.conversations} conversations, {result.errors} errors")
    print(f"import time      {import_s:.1f} s")
    print(f"messages/s       {result.messages_added / import_s:.0f}")
    print(f"peak RSS         {rss.peak / mb:.0f} MiB (before import {rss.before / mb:.0f} MiB)")
    print(f"RSS growth       {(rss.peak - rss.before) / mb:.0f} MiB")
    print(f"pure embedding   {embed_s:.1f} s for the same {len(texts)} chunk texts")
    print(f"import/embedding {import_s / embed_s:.2f}")


if __name__ == "__main__":
    main()
