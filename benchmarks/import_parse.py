"""Import parse time against input size: linear from 16 to 64 MiB.

Reads generated JSON files through the importer's own path (the `json` format:
jsonstream's guarded reader, ijson, validation into conversations), without
storing anything, so the figure is the parser's alone. Two shapes per size:

    one string    one conversation whose only message is a single JSON string of
                  the whole size (what a zip bomb holds): cut while streaming
                  past the per-message limit, so it costs a pass over the bytes
    records       ordinary conversations of 20 short messages each, the size
                  reached by their number

For each it prints seconds, MiB/s and the time per MiB relative to 16 MiB: a
linear parser keeps that near 1.0 as the size grows (the parse of one long
string used to grow about 4x per doubling). `--baseline` also times ijson
alone on the one-string files, as the reader was before strings were cut.

    .venv/bin/python benchmarks/import_parse.py
    .venv/bin/python benchmarks/import_parse.py --sizes 16 32 --baseline
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import ijson
from bench_common import RESULTS, load_average, machine

from mcp_rag.importers import FORMATS
from mcp_rag.importers.base import Meter, Parsed, file_entry

MiB = 1024 * 1024


def one_string(path: Path, size: int) -> None:
    with path.open("wb") as f:
        f.write(b'[{"id": "long", "messages": [{"content": "')
        block = b"lorem ipsum " * (MiB // 12)
        for _ in range(size // len(block)):
            f.write(block)
        f.write(b'"}]}]')


def records(path: Path, size: int) -> None:
    turns = [
        {"id": str(i), "author": "Ann", "content": f"turn {i}: the release train leaves on friday"} for i in range(20)
    ]
    with path.open("w") as f:
        f.write("[")
        n = 0
        while f.tell() < size:
            f.write(("," if n else "") + json.dumps({"id": f"c{n}", "title": f"conversation {n}", "messages": turns}))
            n += 1
        f.write("]")


def parse(path: Path) -> tuple[float, int, int]:
    """Seconds to read every conversation out of `path`, conversations read, records refused."""
    started = time.perf_counter()
    parsed = refused = 0
    for item in FORMATS["json"].read(file_entry(path, path.name, Meter())):
        if isinstance(item, Parsed):
            parsed += 1
        else:
            refused += 1
    return time.perf_counter() - started, parsed, refused


def ijson_alone(path: Path) -> float:
    started = time.perf_counter()
    with path.open("rb") as f:
        for _ in ijson.items(io.BufferedReader(f), "item"):
            pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64], help="MiB")
    parser.add_argument("--baseline", action="store_true", help="also time ijson alone on the one-string files")
    parser.add_argument("--out", default=str(RESULTS / "import_parse_linear_16_to_64_mib.json"))
    args = parser.parse_args()

    report: dict = {"machine": machine(), "shapes": {}}
    with tempfile.TemporaryDirectory(prefix="mcp-rag-parse-") as tmp:
        for shape, write in (("one string", one_string), ("records", records)):
            rows = []
            for mib in args.sizes:
                path = Path(tmp) / f"{mib}.json"
                write(path, mib * MiB)
                seconds, parsed, refused = parse(path)
                row = {"mib": mib, "seconds": round(seconds, 3), "mib_per_s": round(mib / seconds, 1)}
                row.update(conversations=parsed, refused=refused, load=load_average())
                if args.baseline and shape == "one string":
                    row["ijson_alone_seconds"] = round(ijson_alone(path), 3)
                rows.append(row)
                path.unlink()
            per_mib = rows[0]["seconds"] / rows[0]["mib"]
            for row in rows:
                row["time_per_mib_vs_smallest"] = round(row["seconds"] / row["mib"] / per_mib, 2)
                print(
                    f"{shape:10} {row['mib']:4} MiB  {row['seconds']:7.3f} s  {row['mib_per_s']:6.1f} MiB/s  "
                    f"x{row['time_per_mib_vs_smallest']:.2f} per MiB  load {row['load']}"
                    + (f"  ijson alone {row['ijson_alone_seconds']:.3f} s" if "ijson_alone_seconds" in row else "")
                )
            report["shapes"][shape] = rows
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
