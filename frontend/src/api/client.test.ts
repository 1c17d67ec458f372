import { describe, expect, test } from "vitest";
import { fakeServer, json, problem } from "../test/fakeServer";
import { ApiError, request } from "./client";
import { saveToken } from "./token";

describe("talking to the server", () => {
  test("a saved token goes out as a Bearer header; without one, no Authorization header", async () => {
    const server = fakeServer({ "GET /version": () => json({ version: "0.1.0" }) });
    await request("/version");
    saveToken("  mrag_secret ");
    await request("/version");
    expect(server.calls[0]?.headers.has("Authorization")).toBe(false);
    expect(server.calls[1]?.headers.get("Authorization")).toBe("Bearer mrag_secret");
  });

  test("a problem+json error becomes an ApiError carrying its detail", async () => {
    fakeServer({ "GET /v1/conversations/x": () => problem(404, "conversation 'x' not found", "Not found") });
    const error = await request("/v1/conversations/x").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 404, title: "Not found", detail: "conversation 'x' not found" });
  });

  test("an error page that is not JSON still gives a readable message", async () => {
    fakeServer({ "GET /ready": () => new Response("<html>Bad gateway</html>", { status: 502, statusText: "Bad Gateway" }) });
    const error = (await request("/ready").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(502);
    expect(error.title).toBe("Bad Gateway");
  });

  test("a server that cannot be reached is a network error, status 0", async () => {
    const { vi } = await import("vitest");
    vi.stubGlobal("fetch", () => Promise.reject(new TypeError("Failed to fetch")));
    const error = (await request("/version").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(0);
    expect(error.detail).toContain("Cannot reach the mcp-rag server");
  });
});
