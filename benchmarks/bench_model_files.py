"""The offline model's forms side by side: memory of a loaded session, vectors and speed.

Documents: the graph as the wheel ships it (its int8 word table folded into float32 at load)
against `document_model` (the rows gathered before dequantizing, weights memory-mapped).
Queries: the int8 form with its weights inline in the graph file (`int8_model(...,
mapped_weights=False)`, loaded from its path) against `int8_model` as the cache folder keeps
it (weights memory-mapped).

For each form, a process of its own loads it through `OnnxMiniLM` with the server's lean
settings, after the tokenizer and onnxruntime are imported, and reports its USS (the
process's own pages) after the load and after embedding the texts as the server would
(documents in batches, queries one by one), and the PSS of its mapped data file. Then one
process embeds the same texts with both forms of a use, interleaved over --rounds, and
reports the largest difference between their vectors and the ratio of their times.
Forms are built into a fresh cache folder first (the warm case: a server builds them once).

    python benchmarks/bench_model_files.py                 # 512 REALTALK turns, 3 rounds
    python benchmarks/bench_model_files.py --texts 256 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import load_average, realtalk_texts, write_result  # noqa: E402

from mcp_rag.embed import bundled_model, document_model, int8_model  # noqa: E402
from mcp_rag.embed.onnx import OnnxMiniLM  # noqa: E402

# Each use: (baseline form, form the server runs).
FORMS = {"documents": ("shipped", "document_model"), "queries": ("int8 inline", "int8_model")}

_MEMORY = """
import json, sys, psutil, onnxruntime
from pathlib import Path
from mcp_rag import memory
from mcp_rag.embed.onnx import OnnxMiniLM, _tokenizer
from bench_model_files import InlineInt8
form, cache, texts = sys.argv[1], Path(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text())
_tokenizer(OnnxMiniLM.max_tokens)
memory.release()
proc = psutil.Process()
uss = lambda: proc.memory_full_info().uss / 2**20
def data_pss():
    kb, mapped = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):
            mapped = line.rstrip().endswith(".onnx.data")
        elif mapped and line.startswith("Pss:"):
            kb += int(head[1])
    return kb / 1024
before = uss()
model = {
    "shipped": lambda: OnnxMiniLM(),
    "document_model": lambda: OnnxMiniLM(cache_dir=cache),
    "int8 inline": lambda: InlineInt8(batch_size=1, threads=1, int8=True, cache_dir=cache),
    "int8_model": lambda: OnnxMiniLM(batch_size=1, threads=1, int8=True, cache_dir=cache),
}[form]()
model.ensure_loaded()
memory.release()
loaded, loaded_data = uss(), data_pss()
if model.int8:
    for text in texts:
        model.embed([text])
else:
    model.embed(texts)
memory.release()
print(json.dumps({"load_uss_mb": round(loaded - before, 1), "load_data_pss_mb": round(loaded_data, 1),
                  "after_uss_mb": round(uss() - before, 1), "after_data_pss_mb": round(data_pss(), 1)}))
"""


class InlineInt8(OnnxMiniLM):
    """The int8 query form with its weights inline in its graph file, built beside the mapped one."""

    def _int8(self, source: Path) -> Path:
        assert self.cache_dir is not None
        return int8_model(source, self.cache_dir / "inline", mapped_weights=False)


def memory_of(form: str, cache: Path, texts_file: Path) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", _MEMORY, form, str(cache), str(texts_file)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])},
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def compare(use: str, cache: Path, texts: list[str], rounds: int) -> dict:
    """Both forms of `use` in this process: the largest vector difference and the time ratio."""
    import numpy as np

    if use == "documents":
        models = [OnnxMiniLM(), OnnxMiniLM(cache_dir=cache)]
    else:
        models = [InlineInt8(batch_size=1, threads=1, int8=True, cache_dir=cache)]
        models.append(OnnxMiniLM(batch_size=1, threads=1, int8=True, cache_dir=cache))

    def embed(model: OnnxMiniLM) -> np.ndarray:
        return np.concatenate([model.embed([t]) for t in texts]) if model.int8 else model.embed(texts)

    vectors = [embed(m) for m in models]  # also warms both up
    seconds = [0.0, 0.0]
    for r in range(rounds):
        for i in (0, 1) if r % 2 == 0 else (1, 0):
            started = time.perf_counter()
            embed(models[i])
            seconds[i] += time.perf_counter() - started
    return {
        "max_abs_diff": float(np.abs(vectors[0] - vectors[1]).max()),
        "identical": bool(np.array_equal(vectors[0], vectors[1])),
        "seconds": [round(s, 2) for s in seconds],
        "time_ratio": round(seconds[1] / seconds[0], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=512, help="REALTALK turns embedded by each form")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per form, interleaved")
    args = parser.parse_args()
    texts = [t.text for c in realtalk_texts() for t in c.turns][: args.texts]
    loads = [load_average()]
    result: dict = {"texts": len(texts), "rounds": args.rounds, "uses": {}}
    with tempfile.TemporaryDirectory(prefix="bench-model-files-") as tmp:
        cache, texts_file = Path(tmp) / "models", Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts))
        int8_model(bundled_model(), cache)
        int8_model(bundled_model(), cache / "inline", mapped_weights=False)
        document_model(bundled_model(), cache)
        for use, forms in FORMS.items():
            memory = {form: memory_of(form, cache, texts_file) for form in forms}
            loads.append(load_average())
            result["uses"][use] = {"memory": memory, **compare(use, cache, texts, args.rounds)}
            loads.append(load_average())
    result["load_average"] = {"min": min(loads), "max": max(loads)}
    path = write_result("model_files", result)
    for use, r in result["uses"].items():
        print(f"{use}: vectors max abs diff {r['max_abs_diff']:.3g}, time ratio {r['time_ratio']} (new / old)")
        for form, m in r["memory"].items():
            print(
                f"  {form}: +{m['load_uss_mb']} MiB USS loaded ({m['load_data_pss_mb']} of it mapped weights),"
                f" +{m['after_uss_mb']} after {len(texts)} texts ({m['after_data_pss_mb']} mapped)"
            )
    print(f"load {result['load_average']['min']}-{result['load_average']['max']} -> {path}")


if __name__ == "__main__":
    main()
