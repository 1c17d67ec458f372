"""The query cache: recently embedded search queries, and micro-batching of the ones that miss it."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from mcp_rag.embed.base import Embedder
from mcp_rag.errors import Unavailable


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
