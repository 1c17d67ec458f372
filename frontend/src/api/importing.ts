// Importing files: each file goes to the server's POST /v1/import as it is,
// and the server decides what it is (Slack zip, ChatGPT or Claude export,
// WhatsApp or Markdown chat, our JSON / JSONL, ...). One request per file, so
// each file gets its own result and a failure stays with its file.
//
// XMLHttpRequest, not fetch: fetch reports no upload progress, and an export
// can be hundreds of megabytes.

import { ApiError, authHeaders, problemError } from "./client";
import type { FileImport, ImportResult } from "./types";

export interface UploadProgress {
  /** Bytes sent so far. */
  loaded: number;
  total: number;
}

/** Upload one file to POST /v1/import; resolves with what the server made of it. */
export function uploadFile(file: File, onProgress: (progress: UploadProgress) => void): Promise<FileImport> {
  const form = new FormData();
  form.append("files", file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/import");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Accept", "application/json, application/problem+json");
    xhr.upload.addEventListener("progress", (event) => {
      onProgress({ loaded: event.loaded, total: event.lengthComputable ? event.total : file.size });
    });
    xhr.addEventListener("load", () => {
      if (xhr.status < 200 || xhr.status >= 300) {
        reject(problemError(xhr.status, xhr.statusText, xhr.responseText));
        return;
      }
      try {
        const result = JSON.parse(xhr.responseText) as ImportResult;
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
