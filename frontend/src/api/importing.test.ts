import { describe, expect, test } from "vitest";
import { eventStream, fakeServer, json, problem } from "../test/fakeServer";
import { ApiError } from "./client";
import { type UploadProgress, uploadFile } from "./importing";
import { saveToken } from "./token";
import type { FileImport } from "./types";

const report: FileImport = {
  name: "slack-export.zip",
  format: "slack",
  conversations: 4,
  messages_added: 7,
  skipped: 0,
  errors: [{ location: "slack-export.zip:general/2024-03-04.json[7]", message: "message has no valid `ts`" }],
};

describe("uploading a file to POST /v1/import", () => {
  test("the file goes as multipart field `files` with the token; progress is reported and the file's report returned", async () => {
    saveToken("mcp_rag_secret");
    const server = fakeServer({
      "POST /v1/import": () => json({ files: [report], conversations: 4, messages_added: 7, errors: 1 }),
    });
    const file = new File(["PK\u0003\u0004 not really a zip, the fake does not care"], "slack-export.zip", {
      type: "application/zip",
    });
    const progress: UploadProgress[] = [];

    expect(await uploadFile(file, { onUpload: (p) => progress.push(p) })).toEqual(report);

    const [call] = server.of("POST", "/v1/import");
    expect(call?.headers.get("Authorization")).toBe("Bearer mcp_rag_secret");
    const sent = (call?.body as FormData).getAll("files");
    expect(sent).toHaveLength(1);
    expect((sent[0] as File).name).toBe("slack-export.zip");
    // The form carries the file and the stream field: a little more than the file's bytes.
    const last = progress.at(-1);
    expect(last?.loaded).toBe(last?.total);
    expect(last?.total).toBeGreaterThanOrEqual(file.size);
    expect(progress[0]?.loaded).toBeLessThan(last?.total ?? 0);
  });

  test("without a saved token no Authorization header is sent", async () => {
    const server = fakeServer({ "POST /v1/import": () => json({ files: [report], conversations: 4, messages_added: 7, errors: 1 }) });
    await uploadFile(new File(["x"], "a.txt"), { onUpload: () => {} });
    expect(server.calls[0]?.headers.has("Authorization")).toBe(false);
  });

  test("a refused upload rejects with the problem's status and detail", async () => {
    fakeServer({ "POST /v1/import": () => problem(413, "the upload is larger than 1 GB", "Payload too large") });
    const refused = uploadFile(new File(["x"], "huge.zip"), { onUpload: () => {} });
    await expect(refused).rejects.toThrow("the upload is larger than 1 GB");
    await expect(refused).rejects.toMatchObject({ status: 413, title: "Payload too large" });
  });

  test("an unreachable server is a network error, status 0", async () => {
    fakeServer({
      "POST /v1/import": () => {
        throw new TypeError("connection refused");
      },
    });
    const failed = uploadFile(new File(["x"], "a.json"), { onUpload: () => {} });
    await expect(failed).rejects.toBeInstanceOf(ApiError);
    await expect(failed).rejects.toMatchObject({ status: 0, title: "Network error" });
  });

  test("a forced format goes along, and the streamed reply's done event is the result", async () => {
    const server = fakeServer({
      "POST /v1/import": () =>
        eventStream([
          { event: "progress", data: { conversations: 1, messages: 3, bytes_done: 10, bytes_total: 20, seconds: 1, messages_per_second: 3 } },
          { event: "done", data: { files: [report], conversations: 4, messages_added: 7, errors: 1 } },
        ]),
    });
    expect(await uploadFile(new File(["x"], "chat.txt"), { onUpload: () => {} }, "transcript")).toEqual(report);
    const form = server.calls[0]?.body as FormData;
    expect(form.get("format")).toBe("transcript");
    expect(form.get("stream")).toBe("true");
  });

  test("an error event at the end of the stream rejects with its detail", async () => {
    fakeServer({
      "POST /v1/import": () =>
        eventStream([{ event: "error", data: { title: "Service unavailable", status: 503, detail: "database unreachable" } }]),
    });
    await expect(uploadFile(new File(["x"], "a.json"), { onUpload: () => {} })).rejects.toMatchObject({
      status: 503,
      detail: "database unreachable",
    });
  });
});
