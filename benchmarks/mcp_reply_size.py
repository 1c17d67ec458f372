"""How many characters an MCP client hands its model for a 10-hit search.

Stores one REALTALK chat through `ingest_conversation` of a fresh `mcp-rag mcp`
(stdio, the SDK's own client), asks the chat's questions with top_k=10, and
prints the mean characters of the reply's text content (what most clients put
in the model's context) and of its structured content, for the compact
default and for detail=true.

    python benchmarks/mcp_reply_size.py [--chat Chat_1_Emi_Elise] [--turns 300] [--questions 20]

--source DIR runs the server from another checkout's source tree (e.g. an
older commit unpacked with `git archive`) to compare with it; such a server
may not know `detail`, so --modes default measures only the default reply.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realtalk  # noqa: E402
from bench_common import load_average, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "realtalk"
MCP_RAG = str(Path(sys.executable).with_name("mcp-rag"))


async def measure(args: argparse.Namespace, data_dir: Path) -> dict:
    chat = realtalk.load_file(Path(args.data) / f"{args.chat}.json")
    chat.turns = chat.turns[: args.turns]
    env = {**os.environ, "MCP_RAG_DATA_DIR": str(data_dir), "MCP_RAG_ENV": "test"}
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve())
    params = StdioServerParameters(command=MCP_RAG, args=["mcp"], env=env)
    sizes: dict[str, dict[str, list[int]]] = {}
    async with Client(params, mode="legacy", read_timeout_seconds=1800) as client:
        stored = await client.call_tool("ingest_conversation", chat.ingest_body() | {"conversation_id": chat.name})
        assert not stored.is_error, stored.content
        for question in chat.questions[: args.questions]:
            for mode in args.modes.split(","):
                arguments = {"query": question.question, "top_k": 10}
                if mode == "detail":
                    arguments["detail"] = True
                result = await client.call_tool("search_conversations", arguments)
                assert not result.is_error, result.content
                entry = sizes.setdefault(mode, {"text": [], "structured": [], "hits": []})
                entry["text"].append(sum(len(c.text) for c in result.content if c.type == "text"))
                entry["structured"].append(len(json.dumps(result.structured_content, ensure_ascii=False)))
                entry["hits"].append(len(result.structured_content["hits"]))
    return {
        mode: {
            "text_chars_mean": round(statistics.mean(v["text"])),
            "structured_chars_mean": round(statistics.mean(v["structured"])),
            "hits_mean": statistics.mean(v["hits"]),
            "queries": len(v["text"]),
        }
        for mode, v in sizes.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--chat", default="Chat_1_Emi_Elise")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--turns", type=int, default=300, help="Store the chat's first N turns")
    parser.add_argument("--modes", default="default,detail", help="default, detail, or both (comma-separated)")
    parser.add_argument("--source", help="Run the server from this source tree instead")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="mcp-rag-reply-size-"))
    try:
        figures = anyio.run(measure, args, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    for mode, f in figures.items():
        print(
            f"{mode:8} {f['text_chars_mean']:>6} characters of text, {f['structured_chars_mean']:>6} structured "
            f"({f['hits_mean']:.1f} hits, {f['queries']} queries)"
        )
    print(f"load average {load_average()}")
    if not args.source:
        write_result("mcp_reply_size", {"chat": args.chat, "figures": figures, "load_average": load_average()})


if __name__ == "__main__":
    main()
