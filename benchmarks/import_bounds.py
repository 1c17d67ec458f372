"""Do the default import bounds take a real multi-GB Slack export, and refuse a zip bomb?

Writes a Slack workspace export zip shaped like the real ones (users.json,
channels.json, one JSON array per channel per day; each message with the
fields Slack exports: client_msg_id, user_profile, rich-text blocks, ...) of
the given expanded size, and a zip bomb (one member of one JSON string), then
checks both against the default bounds (MCP_RAG_IMPORT_MAX_MEMBER_BYTES,
_ARCHIVE_BYTES, _RATIO) as an import does before unpacking anything. Prints
each zip's size on disk, expanded size, ratio (whole and largest member), the
verdict and how long the check took.

    .venv/bin/python benchmarks/import_bounds.py                 # a 3 GiB export (a few minutes to write)
    .venv/bin/python benchmarks/import_bounds.py --export-gib 0.2
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_common import RESULTS, load_average, machine

from mcp_rag.config import Settings
from mcp_rag.importers.bounds import Bounds, TooLarge

MiB = 1024 * 1024
WORDS = (
    "deploy release customer ticket budget offsite lisbon meeting design review invoice latency database "
    "migration rollback incident pager alert dashboard roadmap sprint retro hiring onboarding laptop vpn "
    "coffee lunch friday deadline contract vendor pricing quota region cluster backup restore feature flag"
).split()


def slack_message(rng: random.Random, user: dict, ts: float) -> dict:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40)))
    return {
        "client_msg_id": f"{rng.getrandbits(128):032x}",
        "type": "message",
        "text": text,
        "user": user["id"],
        "ts": f"{ts:.6f}",
        "blocks": [
            {
                "type": "rich_text",
                "block_id": f"{rng.getrandbits(20):05x}",
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
            }
        ],
        "team": "T0000001",
        "user_team": "T0000001",
        "source_team": "T0000001",
        "user_profile": {
            "avatar_hash": user["avatar_hash"],
            "image_72": f"https://avatars.slack-edge.com/2023-01-01/{user['avatar_hash']}_72.jpg",
            "first_name": user["name"].title(),
            "real_name": user["real_name"],
            "display_name": user["name"],
            "team": "T0000001",
            "name": user["name"],
            "is_restricted": False,
            "is_ultra_restricted": False,
        },
    }


def slack_export(path: Path, expanded: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    users = [
        {"id": f"U{i:08d}", "name": f"user{i}", "real_name": f"User Number {i}", "avatar_hash": f"{i:012x}"}
        for i in range(500)
    ]
    channels = [{"id": f"C{i:08d}", "name": f"channel-{i}"} for i in range(40)]
    written = 0
    start = datetime(2020, 1, 1, tzinfo=UTC)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("users.json", json.dumps(users))
        z.writestr("channels.json", json.dumps(channels))
        day = 0
        while written < expanded:
            base = (start + timedelta(days=day)).timestamp()
            for channel in channels:
                batch = [slack_message(rng, rng.choice(users), base + i * 37.0) for i in range(rng.randint(20, 400))]
                body = json.dumps(batch, indent=4).encode()  # Slack pretty-prints its export
                z.writestr(f"{channel['name']}/{(start + timedelta(days=day)):%Y-%m-%d}.json", body)
                written += len(body)
            day += 1


def zip_bomb(path: Path, expanded: int) -> None:
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z,
        z.open("conversations.json", "w", force_zip64=True) as f,
    ):
        f.write(b'[{"id": "x", "messages": [{"content": "')
        for _ in range(expanded // MiB):
            f.write(b"a" * MiB)
        f.write(b'"}]}]')


def verdict(bounds: Bounds, path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    expanded = sum(i.file_size for i in infos)
    worst = max(infos, key=lambda i: i.file_size / max(i.compress_size, 1) if i.file_size > MiB else 0)
    started = time.perf_counter()
    try:
        bounds.check_path(path, path.name)
        outcome = "accepted"
    except TooLarge as exc:
        outcome = f"refused: {exc}"
    return {
        "zip_mib": round(path.stat().st_size / MiB, 1),
        "expanded_mib": round(expanded / MiB, 1),
        "members": len(infos),
        "ratio": round(expanded / path.stat().st_size, 1),
        "largest_member_ratio_over_1_mib": round(worst.file_size / max(worst.compress_size, 1), 1),
        "verdict": outcome,
        "check_ms": round((time.perf_counter() - started) * 1000, 1),
        "load": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export-gib", type=float, default=3.0, help="expanded size of the Slack export")
    parser.add_argument("--bomb-gib", type=float, default=1.0, help="expanded size of the zip bomb")
    parser.add_argument("--out", default=str(RESULTS / "import_bounds_slack_export_and_zip_bomb.json"))
    args = parser.parse_args()

    settings = Settings()
    bounds = Bounds(settings.import_max_member_bytes, settings.import_max_archive_bytes, settings.import_max_ratio)
    report = {"machine": machine(), "bounds": bounds.__dict__, "zips": {}}
    with tempfile.TemporaryDirectory(prefix="mcp-rag-bounds-") as tmp:
        for name, write, size in (
            ("slack export", slack_export, args.export_gib),
            ("zip bomb", zip_bomb, args.bomb_gib),
        ):
            path = Path(tmp) / f"{name.replace(' ', '-')}.zip"
            started = time.perf_counter()
            write(path, int(size * 1024 * MiB))
            result = verdict(bounds, path)
            result["write_s"] = round(time.perf_counter() - started, 1)
            report["zips"][name] = result
            print(f"{name}: {result}")
            path.unlink()
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
