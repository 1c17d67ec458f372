// Importing files: each file goes to the server's POST /v1/import as it is,
// and the server decides what it is (Slack zip, ChatGPT or Claude export,
// WhatsApp or Markdown chat, our JSON / JSONL, ...) unless a format is forced.
// One request per file, so each file gets its own result and a failure stays
// with its file.
//
// XMLHttpRequest, not fetch: fetch reports no upload progress, and an export
// can be hundreds of megabytes. The reply is a server-sent event stream
// (stream=true): `progress` while the server imports, then `done` or `error`.

import { ApiError, authHeaders, problemError } from "./client";
import { parseBlock } from "./sse";
import type { FileImport, ImportResult } from "./types";

export interface UploadProgress {
  /** Bytes sent so far. */
  loaded: number;
  total: number;
}

/** What the server has stored so far of a file it is importing. */
export interface ImportProgress {
  conversations: number;
  messages: number;
  bytes_done: number;
  bytes_total: number;
  seconds: number;
  messages_per_second: number;
}

export interface UploadCallbacks {
  onUpload: (progress: UploadProgress) => void;
  onImport?: (progress: ImportProgress) => void;
}

/** The server's import formats; "" lets it detect the format from the content. */
export const FORMATS = ["", "slack", "chatgpt", "claude", "whatsapp", "markdown", "transcript", "json", "openai"];

/** Split an event-stream text into its complete events and what is left over. */
function events(text: string): { event: string; data: string }[] {
  const blocks = text.replace(/\r\n?/g, "\n").split("\n\n");
  blocks.pop(); // incomplete (or empty) until a blank line ends it
  return blocks.map(parseBlock).filter((e): e is { event: string; data: string } => e !== null);
}

/** Upload one file to POST /v1/import; resolves with what the server made of it. */
export function uploadFile(file: File, callbacks: UploadCallbacks, format = ""): Promise<FileImport> {
  const form = new FormData();
  form.append("files", file, file.name);
  form.append("stream", "true");
  if (format) form.append("format", format);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/import");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Accept", "text/event-stream, application/json, application/problem+json");
    xhr.upload.addEventListener("progress", (event) => {
      callbacks.onUpload({ loaded: event.loaded, total: event.lengthComputable ? event.total : file.size });
    });
    let seen = 0;
    xhr.addEventListener("progress", () => {
      if (xhr.status < 200 || xhr.status >= 300 || !callbacks.onImport) return;
      const all = events(xhr.responseText);
      for (const e of all.slice(seen)) {
        if (e.event === "progress") callbacks.onImport(JSON.parse(e.data) as ImportProgress);
      }
      seen = all.length;
    });
    xhr.addEventListener("load", () => {
      if (xhr.status < 200 || xhr.status >= 300) {
        reject(problemError(xhr.status, xhr.statusText, xhr.responseText));
        return;
      }
      try {
        const all = events(xhr.responseText + "\n\n");
        const last = all[all.length - 1];
        if (last?.event === "error") {
          const problem = JSON.parse(last.data) as { status?: number };
          reject(problemError(problem.status ?? 500, "", last.data));
          return;
        }
        const result = JSON.parse(last?.event === "done" ? last.data : xhr.responseText) as ImportResult;
        const [imported] = result.files;
        if (!imported) throw new Error("no result for the file");
        resolve(imported);
      } catch (err) {
        reject(new ApiError(xhr.status, "Unexpected response", `the server's answer could not be read: ${(err as Error).message}`));
      }
    });
    xhr.addEventListener("error", () =>
      reject(new ApiError(0, "Network error", "Cannot reach the mcp-rag server. Is it running?")),
    );
    xhr.addEventListener("abort", () => reject(new ApiError(0, "Upload stopped", "The upload was cancelled.")));
    xhr.send(form);
  });
}
