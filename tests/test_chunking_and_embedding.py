"""Chunk windows and the real offline ONNX embedder."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort

from mcp_rag.chunking import Turn, chunk_turns
from mcp_rag.embed import OnnxMiniLM, bundled_model, document_model, int8_model
from mcp_rag.embed.model_files import PAGE_ALIGN, weights_file

TEXTS = ["I went skiing in the mountains", "We hit the ski slopes", "The invoice is overdue"]


def turns(*lengths: int) -> list[Turn]:
    ts = datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
    return [Turn(i + 1, f"m{i + 1}", "Ann" if i % 2 else "Bob", None, "word " * n, ts) for i, n in enumerate(lengths)]


def test_chunks_never_cut_a_message_and_respect_the_window():
    chunks = chunk_turns(turns(30, 30, 30, 30, 30), max_words=70, max_messages=6)
    assert [c.message_ids for c in chunks] == [["m1", "m2"], ["m3", "m4"], ["m5"]]
    assert chunks[0].text.splitlines()[0].startswith("Bob (Monday 1 January 2024, 09:30): word")


def test_a_message_longer_than_the_window_is_split_and_points_back_to_itself():
    chunks = chunk_turns(turns(5, 250, 5), max_words=100, max_messages=6)
    assert [c.message_ids for c in chunks] == [["m1"], ["m2"], ["m2"], ["m2"], ["m3"]]
    assert sum(len(c.text.split()) for c in chunks[1:4]) == 250 + 3 * 6  # words + "Ann (Monday 1 January 2024, 09:30):"


def test_max_messages_bounds_a_window():
    chunks = chunk_turns(turns(*[1] * 7), max_words=100, max_messages=3)
    assert [len(c.message_ids) for c in chunks] == [3, 3, 1]


def test_embedder_gives_unit_vectors_that_rank_paraphrases_first():
    v = OnnxMiniLM(batch_size=2).embed(TEXTS)
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def _ops(model: Path) -> set[str]:
    """Operators ONNX Runtime runs for a model, read from its profile of one call."""
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(model.parent / "profile")
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    ids = np.array([[101, 7592, 102]], dtype=np.int64)
    session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
    events = json.loads(Path(session.end_profiling()).read_text())
    return {e["args"]["op_name"] for e in events if e.get("cat") == "Node" and "op_name" in e.get("args", {})}


def test_the_int8_model_is_built_once_runs_int8_products_and_embeds_like_the_bundled_one(tmp_path):
    source = bundled_model()
    built = int8_model(source, tmp_path / "models")
    assert built.parent == tmp_path / "models"
    assert sorted(p.name for p in built.parent.iterdir()) == [built.name, weights_file(built).name]
    stamp = built.stat().st_mtime_ns
    assert int8_model(source, tmp_path / "models") == built and built.stat().st_mtime_ns == stamp  # reused

    # The bundled graph computes its products in float32; the built one in int8
    # (ONNX Runtime fuses MatMulInteger with the quantize / rescale steps around it).
    int8_products = {"MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"}
    assert int8_products & _ops(built) and not int8_products & _ops(source)

    int8 = OnnxMiniLM(int8=True, cache_dir=tmp_path / "models").embed(TEXTS)
    floats = OnnxMiniLM().embed(TEXTS)
    assert np.all(np.sum(int8 * floats, axis=1) > 0.98)  # the same model, to within quantization
    assert not np.array_equal(int8, floats)


def _external_offsets(graph: Path) -> dict[str, tuple[str, int, int]]:
    """Where each initializer stored outside `graph` lives: (file, offset, length) by name."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    places = {}
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            entry = {e.key: e.value for e in tensor.external_data}
            places[tensor.name] = (entry["location"], int(entry["offset"]), int(entry["length"]))
    return places


def test_the_int8_models_weights_are_memory_mapped_from_a_page_aligned_file(tmp_path):
    """The query model's large weights live in a data file beside the graph, at page-aligned
    offsets, and the loaded session maps that file instead of copying it: pages a query never
    reads (most of the word table) never count in the server's memory."""
    source = bundled_model()
    built = int8_model(source, tmp_path / "models")
    data = weights_file(built)
    places = _external_offsets(built)
    assert "inner.embeddings.word_embeddings.weight_quantized" in places
    assert {location for location, _, _ in places.values()} == {data.name}  # relative: the pair can move
    assert all(offset % PAGE_ALIGN == 0 for _, offset, _ in places.values())
    assert max(offset + length for _, offset, length in places.values()) == data.stat().st_size
    assert built.stat().st_size < 512 * 1024 < 20 * 2**20 < data.stat().st_size  # nothing large left inline

    mapped = OnnxMiniLM(int8=True, cache_dir=tmp_path / "models")
    vectors = mapped.embed(TEXTS)
    assert str(data) in Path("/proc/self/maps").read_text()
    # Without a cache folder the graph is built for the process and loaded from bytes, its
    # weights inline: the same vectors, to the bit.
    assert np.array_equal(vectors, OnnxMiniLM(int8=True).embed(TEXTS))


def test_the_document_model_keeps_its_word_table_int8_and_mapped_and_embeds_the_same_vectors_to_the_bit(tmp_path):
    """ONNX Runtime folds the shipped graph's int8 word table into a float32 copy on its heap
    (47 MB); the document form gathers the int8 rows first and dequantizes only those."""
    import onnx

    source = bundled_model()
    built = document_model(source, tmp_path / "models")
    assert document_model(source, tmp_path / "models") == built
    places = _external_offsets(built)
    assert all(offset % PAGE_ALIGN == 0 for _, offset, _ in places.values())
    graph = onnx.load(str(built), load_external_data=False).graph
    gathered = {node.input[0] for node in graph.node if node.op_type == "Gather"}
    assert "inner.embeddings.word_embeddings.weight_q" in gathered & places.keys()  # the int8 table itself

    texts = [*TEXTS, "word " * 300, "Bob: we went to the lake, then the cabin; it rained all weekend."]
    mapped = OnnxMiniLM(batch_size=2, cache_dir=tmp_path / "models")
    vectors = mapped.embed(texts)
    assert str(weights_file(built)) in Path("/proc/self/maps").read_text()
    assert np.array_equal(vectors, OnnxMiniLM(batch_size=2).embed(texts))  # the shipped graph


def test_when_the_document_model_cannot_be_built_documents_use_the_bundled_graph_and_say_why(
    tmp_path, monkeypatch, caplog
):
    # Fault injection into the third-party onnx package, in the child process that builds the
    # model (a sitecustomize on its path): the only way to make it fail on demand.
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import onnx\ndef broken(*args, **kwargs):\n    raise ValueError('unreadable graph')\nonnx.load = broken\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(inject), os.environ.get("PYTHONPATH")])))
    embedder = OnnxMiniLM(cache_dir=tmp_path / "models")
    with caplog.at_level(logging.WARNING, logger="mcp_rag.embed"):
        v = embedder.embed(TEXTS)
    assert "cannot build the document embedding model" in caplog.text and "unreadable graph" in caplog.text
    assert np.array_equal(v, OnnxMiniLM().embed(TEXTS))
    assert not list((tmp_path / "models").iterdir())  # nothing half-built left behind


def test_processes_racing_to_build_the_int8_model_all_get_it_whole(tmp_path):
    """Builders that race into one folder each end with the whole pair, byte for byte what a
    builder alone makes, and leave no build folder behind."""
    source = bundled_model()
    alone = int8_model(source, tmp_path / "alone")
    script = (
        "import pathlib, sys; from mcp_rag.embed import bundled_model, int8_model;"
        "print(int8_model(bundled_model(), pathlib.Path(sys.argv[1])))"
    )
    racers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "shared")], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = {racer.communicate(timeout=300)[0].strip() for racer in racers}
    assert [racer.returncode for racer in racers] == [0, 0, 0]
    shared = tmp_path / "shared" / alone.name
    assert outputs == {str(shared)}
    assert sorted(p.name for p in shared.parent.iterdir()) == [alone.name, weights_file(alone).name]
    assert shared.read_bytes() == alone.read_bytes()
    assert weights_file(shared).read_bytes() == weights_file(alone).read_bytes()

    weights_file(shared).unlink()  # a graph without its weights is rebuilt, not loaded
    assert int8_model(source, tmp_path / "shared") == shared and weights_file(shared).exists()


def test_building_the_models_leaves_no_quantizer_in_the_process(tmp_path):
    """A server that builds the query model on its first search, and the document model on its
    first ingest, keeps none of the quantizer's (or onnx's) imports."""
    script = (
        "import sys, pathlib; from mcp_rag.embed import OnnxMiniLM;"
        f"OnnxMiniLM(int8=True, cache_dir=pathlib.Path({str(tmp_path / 'models')!r})).embed(['a first search']);"
        f"OnnxMiniLM(cache_dir=pathlib.Path({str(tmp_path / 'models')!r})).embed(['a first document']);"
        "print(sorted(m for m in sys.modules if m.startswith(('onnxruntime.quantization', 'onnx.'))))"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
    assert len(list((tmp_path / "models").glob("*-int8-*.onnx"))) == 1  # they were built, elsewhere
    assert len(list((tmp_path / "models").glob("*-document-*.onnx"))) == 1


def test_an_unwritable_model_cache_still_embeds_and_says_why(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="mcp_rag.embed"):
        v = OnnxMiniLM(int8=True, cache_dir=blocker / "models").embed(TEXTS[:2])
    assert v.shape == (2, 384) and v[0] @ v[1] > 0.5
    assert "cannot keep the int8 embedding model" in caplog.text and str(blocker / "models") in caplog.text


def test_context_turns_are_indexed_but_not_returned():
    chunks = chunk_turns(turns(3, 4, 5), max_words=100, max_messages=1, context=1)
    middle = chunks[1]
    assert middle.message_ids == ["m2"] and middle.text.count("\n") == 0
    assert middle.index_text.splitlines() == [chunks[0].text, middle.text, chunks[2].text]


def test_rechunking_a_tail_uses_earlier_turns_only_as_context():
    chunks = chunk_turns(turns(3, 4, 5, 6), max_words=100, max_messages=1, context=2, emit_from=3)
    assert [c.message_ids for c in chunks] == [["m3"], ["m4"]]
    assert len(chunks[0].before) == 2 and len(chunks[1].after) == 0


def test_when_the_quantizer_fails_queries_use_the_bundled_graph_and_say_why(tmp_path, monkeypatch, caplog):
    # Fault injection into the third-party quantizer, in the child process that builds the
    # model (a sitecustomize on its path): the only way to make it fail on demand.
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import onnxruntime.quantization as q\n"
        "def broken(*args, **kwargs):\n"
        "    raise ValueError('unsupported graph')\n"
        "q.quantize_dynamic = broken\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(inject), os.environ.get("PYTHONPATH")])))
    with caplog.at_level(logging.WARNING, logger="mcp_rag.embed"):
        v = OnnxMiniLM(int8=True, cache_dir=tmp_path / "models").embed(TEXTS)
    assert "cannot build the int8 embedding model" in caplog.text and "unsupported graph" in caplog.text
    assert np.array_equal(v, OnnxMiniLM().embed(TEXTS))  # the bundled graph, exactly
    assert not list((tmp_path / "models").iterdir())  # nothing half-built left behind


def test_the_lean_profile_runs_the_models_without_arenas_and_embeds_the_same_vectors(tmp_path):
    from mcp_rag.config import load_settings
    from mcp_rag.embed import get_embedder, get_query_embedder

    texts = [*TEXTS, "word " * 200]  # a long one: the batch's largest tensors
    vectors = {}
    for profile in ("lean", "speed"):
        settings = load_settings(memory_profile=profile, model_cache_dir=tmp_path / "models")
        for use, embedder in (("chunks", get_embedder(settings)), ("queries", get_query_embedder(settings))):
            rows = embedder.embed(texts) if use == "chunks" else np.stack([embedder.embed([t])[0] for t in texts])
            options = embedder._session.get_session_options()
            assert options.enable_cpu_mem_arena == options.enable_mem_pattern == (profile == "speed")
            vectors[profile, use] = rows
    for use in ("chunks", "queries"):
        assert np.array_equal(vectors["lean", use], vectors["speed", use])
