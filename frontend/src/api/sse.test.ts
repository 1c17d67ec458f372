import { describe, expect, test } from "vitest";
import { parseBlock, readEvents } from "./sse";

function streamOf(...pieces: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces) controller.enqueue(encoder.encode(piece));
      controller.close();
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>) {
  const events = [];
  for await (const event of readEvents(stream)) events.push(event);
  return events;
}

describe("reading server-sent events from a fetch body", () => {
  test("events split anywhere across reads arrive whole and in order", async () => {
    const text = 'event: sources\ndata: {"sources": []}\n\nevent: token\ndata: {"text": "Hi"}\n\nevent: done\ndata: {}\n\n';
    const pieces = [text.slice(0, 3), text.slice(3, 30), text.slice(30, 31), text.slice(31)];
    expect(await collect(streamOf(...pieces))).toEqual([
      { event: "sources", data: '{"sources": []}' },
      { event: "token", data: '{"text": "Hi"}' },
      { event: "done", data: "{}" },
    ]);
  });

  test("CRLF line ends split between reads, comments and a last event without a blank line", async () => {
    const events = await collect(streamOf(": ping\r\n\r", "\nevent: token\r", '\ndata: {"text": "a"}\r\n\r\n', "data: tail"));
    expect(events).toEqual([
      { event: "token", data: '{"text": "a"}' },
      { event: "message", data: "tail" },
    ]);
  });

  test("multi-byte characters cut between reads are decoded intact", async () => {
    const bytes = new TextEncoder().encode('event: token\ndata: {"text": "café ☕"}\n\n');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.slice(0, bytes.length - 6));
        controller.enqueue(bytes.slice(bytes.length - 6));
        controller.close();
      },
    });
    expect(await collect(stream)).toEqual([{ event: "token", data: '{"text": "café ☕"}' }]);
  });

  test("several data lines join with a newline; a block without data is no event", () => {
    expect(parseBlock("event: token\ndata: one\ndata:two")).toEqual({ event: "token", data: "one\ntwo" });
    expect(parseBlock("event: token")).toBeNull();
  });
});
