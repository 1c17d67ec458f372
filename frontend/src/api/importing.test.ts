import { describe, expect, test } from "vitest";
import { fakeServer, json, problem } from "../test/fakeServer";
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

    expect(await uploadFile(file, (p) => progress.push(p))).toEqual(report);

    const [call] = server.of("POST", "/v1/import");
    expect(call?.headers.get("Authorization")).toBe("Bearer mcp_rag_secret");
    const sent = (call?.body as FormData).getAll("files");
    expect(sent).toHaveLength(1);
    expect((sent[0] as File).name).toBe("slack-export.zip");
    expect(progress.at(-1)).toEqual({ loaded: file.size, total: file.size });
    expect(progress[0]?.loaded).toBeLessThan(file.size);
  });

  test("without a saved token no Authorization header is sent", async () => {
    const server = fakeServer({ "POST /v1/import": () => json({ files: [report], conversations: 4, messages_added: 7, errors: 1 }) });
    await uploadFile(new File(["x"], "a.txt"), () => {});
    expect(server.calls[0]?.headers.has("Authorization")).toBe(false);
  });

  test("a refused upload rejects with the problem's status and detail", async () => {
    fakeServer({ "POST /v1/import": () => problem(413, "the upload is larger than 1 GB", "Payload too large") });
    const refused = uploadFile(new File(["x"], "huge.zip"), () => {});
    await expect(refused).rejects.toThrow("the upload is larger than 1 GB");
    await expect(refused).rejects.toMatchObject({ status: 413, title: "Payload too large" });
  });

  test("an unreachable server is a network error, status 0", async () => {
    fakeServer({
      "POST /v1/import": () => {
        throw new TypeError("connection refused");
      },
    });
    const failed = uploadFile(new File(["x"], "a.json"), () => {});
    await expect(failed).rejects.toBeInstanceOf(ApiError);
    await expect(failed).rejects.toMatchObject({ status: 0, title: "Network error" });
  });
});
