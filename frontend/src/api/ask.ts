// POST /v1/ask with stream: true: `sources`, then `token`s, then `done` (the
// full answer) or `error` (problem json).

import { ApiError, errorFrom, send } from "./client";
import { readEvents } from "./sse";
import type { Answer, AskRequest, Hit, Problem } from "./types";

export interface AskHandlers {
  onSources?: (sources: Hit[]) => void;
  onToken?: (text: string) => void;
  signal?: AbortSignal;
}

export async function ask(body: AskRequest, handlers: AskHandlers = {}): Promise<Answer> {
  const response = await send("/v1/ask", {
    method: "POST",
    body: JSON.stringify({ ...body, stream: true }),
    headers: { Accept: "text/event-stream" },
    signal: handlers.signal,
  });
  if (!response.ok) throw await errorFrom(response);
  const type = response.headers.get("Content-Type") ?? "";
  if (!type.includes("text/event-stream") || !response.body) {
    // A server (or proxy) that answered in one piece: still an answer.
    const answer = (await response.json()) as Answer;
    handlers.onSources?.(answer.sources ?? []);
    handlers.onToken?.(answer.answer);
    return answer;
  }
  for await (const { event, data } of readEvents(response.body)) {
    if (event === "sources") {
      handlers.onSources?.((JSON.parse(data) as { sources: Hit[] }).sources ?? []);
    } else if (event === "token") {
      handlers.onToken?.((JSON.parse(data) as { text: string }).text);
    } else if (event === "done") {
      return JSON.parse(data) as Answer;
    } else if (event === "error") {
      const problem = safeJson(data) as Problem;
      throw new ApiError(problem.status ?? 500, problem.title ?? "Error", problem.detail ?? data);
    }
  }
  throw new ApiError(0, "Interrupted", "The answer stream ended before the answer was complete.");
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text };
  }
}
