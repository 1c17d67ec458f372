// What a web page can try against a local mcp-rag server, in Debian's chromium:
// a page from another site sends the writes a browser sends without asking the
// server first (a multipart import, a JSON body as text/plain) and a DELETE; a
// page under a DNS name rebound to 127.0.0.1 lists, reads, searches, deletes
// and makes a token. The server refuses them all; nothing is stored or deleted.
// The UI through Vite's dev-server proxy still reads and writes.

import { existsSync } from "node:fs";
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { type ViteDevServer, createServer as createVite } from "vite";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Browser, CHROMIUM, openBrowser } from "./browser";
import { type RunningServer, startServer } from "./server";

const frontend = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// A server of this file's own: the UI flows leave theirs requiring a token.
let baseURL = "";
let port = "";
const TARGET = "attack-target";
const SECRET = "the vault code is 4711";
const PLANTED = ["planted-by-import", "planted-by-json", "planted-by-alias"];
const skipped = existsSync(CHROMIUM) ? "" : ` (skipped: ${CHROMIUM} is missing; install the chromium package)`;

interface Seen {
  method: string;
  url: string;
  status: number;
}

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${baseURL}${path}`, { ...init, headers: { "Content-Type": "application/json", ...init.headers } });
}

async function storedIds(): Promise<string[]> {
  const page = (await (await api("/v1/conversations?limit=200")).json()) as { items: { external_id: string }[] };
  return page.items.map((c) => c.external_id);
}

async function tokenNames(): Promise<string[]> {
  return ((await (await api("/v1/tokens")).json()) as { name: string }[]).map((t) => t.name);
}

/** A site of the attacker's: any path answers with an empty page, on 127.0.0.1. */
async function attackerSite(): Promise<Server> {
  const site = createServer((_, response) => {
    response.writeHead(200, { "Content-Type": "text/html" });
    response.end("<!doctype html><title>a page on the web</title>");
  });
  await new Promise<void>((done) => site.listen(0, "127.0.0.1", done));
  return site;
}

/** The writes a page can send to `target` from its own origin; the server's replies are opaque to it. */
async function crossSiteWrites(page: Page, target: string): Promise<string[]> {
  return page.evaluate(
    async ({ target, planted }) => {
      const errors: string[] = [];
      const conversation = (id: string) =>
        JSON.stringify({ id, title: "planted", messages: [{ author: "Eve", content: "planted by a web page" }] });
      const form = new FormData();
      form.append("files", new Blob([conversation(planted[0] as string)], { type: "application/json" }), "c.json");
      const attempts: [string, RequestInit][] = [
        ["/v1/import", { method: "POST", mode: "no-cors", body: form }],
        // no-cors drops the JSON content type: the body goes as text/plain
        ["/v1/conversations", { method: "POST", mode: "no-cors", body: conversation(planted[1] as string) }],
        ["/ingest", { method: "POST", mode: "no-cors", body: conversation(planted[2] as string) }],
        ["/v1/conversations/attack-target", { method: "DELETE" }],
        ["/v1/conversations/attack-target", { method: "DELETE", mode: "no-cors" }],
      ];
      for (const [path, init] of attempts) {
        try {
          await fetch(`${target}${path}`, init);
        } catch (error) {
          errors.push(`${init.method} ${path}: ${error}`);
        }
      }
      return errors;
    },
    { target, planted: PLANTED },
  );
}

describe(`web pages attacking a local server${skipped}`, { skip: skipped !== "" }, () => {
  let browser: Browser;
  let site: Server;
  const seen: Seen[] = [];

  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer();
    baseURL = server.baseURL;
    port = new URL(baseURL).port;
    site = await attackerSite();
    // evil.example resolves to this machine, as a rebinding attacker's DNS answers. Chromium's
    // own Local Network Access checks are off: the server must hold without them, as it must
    // for browsers that have none.
    browser = await openBrowser(baseURL, [
      "--host-resolver-rules=MAP evil.example 127.0.0.1",
      "--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,BlockInsecurePrivateNetworkRequests",
    ]);
    browser.context.on("response", (response) => {
      const request = response.request();
      seen.push({ method: request.method(), url: request.url(), status: response.status() });
    });
    const message = { id: "1", author: "Ana", content: `Between us: ${SECRET}.` };
    expect((await api("/v1/conversations", { method: "POST", body: JSON.stringify({ id: TARGET, messages: [message] }) })).status).toBe(201);
  });

  afterAll(async () => {
    await api(`/v1/conversations/${TARGET}`, { method: "DELETE" });
    await browser?.close();
    await new Promise((done) => site?.close(done));
    await server?.stop();
  });

  test("a page on another site cannot import, store or delete", async () => {
    const sitePort = (site.address() as AddressInfo).port;
    // Another site, and another app on this machine (same site, other port).
    for (const origin of [`http://evil.example:${sitePort}`, `http://localhost:${sitePort}`]) {
      seen.length = 0;
      await browser.page.goto(`${origin}/`);
      const errors = await crossSiteWrites(browser.page, baseURL);
      // The browser itself stops both DELETEs: one needs a preflight CORS does not grant, no-cors forbids the method.
      expect(errors).toHaveLength(2);
      const writes = seen.filter((s) => s.method === "POST" && s.url.startsWith(baseURL));
      expect(writes.map((s) => [new URL(s.url).pathname, s.status])).toEqual([
        ["/v1/import", 403],
        ["/v1/conversations", 403],
        ["/ingest", 403],
      ]);
      expect(seen.some((s) => s.method === "DELETE")).toBe(false);
    }
    const ids = await storedIds();
    expect(ids).toContain(TARGET);
    for (const id of PLANTED) expect(ids).not.toContain(id);
  });

  test("a page under a rebound DNS name cannot list, read, search, delete or make tokens", async () => {
    // The attacker's page comes first from the attacker's server; then the name points at 127.0.0.1.
    const rebound = `http://evil.example:${port}`;
    await browser.page.route(`${rebound}/rebound`, (route) =>
      route.fulfill({ contentType: "text/html", body: "<!doctype html><title>rebound</title>" }),
    );
    await browser.page.goto(`${rebound}/rebound`);
    const replies = await browser.page.evaluate(async (target) => {
      const json = { "Content-Type": "application/json" };
      const attempts: [string, string, RequestInit][] = [
        ["list", "/v1/conversations", {}],
        ["read", `/v1/conversations/${target}`, {}],
        ["search", "/v1/search", { method: "POST", headers: json, body: JSON.stringify({ query: "vault code" }) }],
        ["search alias", "/search?q=vault", {}],
        ["tokens", "/v1/tokens", {}],
        ["new token", "/v1/tokens", { method: "POST", headers: json, body: JSON.stringify({ name: "rebound", scopes: ["admin"] }) }],
        ["delete", `/v1/conversations/${target}`, { method: "DELETE" }],
        ["mcp", "/mcp", { method: "POST", headers: { ...json, Accept: "application/json, text/event-stream" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }) }],
      ];
      const out: Record<string, [number, string]> = {};
      for (const [name, path, init] of attempts) {
        const response = await fetch(path, init);
        out[name] = [response.status, await response.text()];
      }
      return out;
    }, TARGET);
    for (const [name, [status, body]] of Object.entries(replies)) {
      expect([name, status]).toEqual([name, 421]);
      expect(body).not.toContain(SECRET);
    }
    expect(await storedIds()).toContain(TARGET);
    expect(await tokenNames()).not.toContain("rebound");
  });

  test("the UI through Vite's dev server still reads and writes; another site through it still cannot", async () => {
    process.env.MCP_RAG_URL = baseURL;
    const vite: ViteDevServer = await createVite({
      configFile: resolve(frontend, "vite.config.ts"),
      root: frontend,
      logLevel: "silent",
      server: { host: "127.0.0.1", port: 0, hmr: false },
    });
    try {
      await vite.listen();
      const dev = `http://127.0.0.1:${(vite.httpServer?.address() as AddressInfo).port}`;
      await browser.page.goto(`${dev}/`);
      const statuses = await browser.page.evaluate(async () => {
        const body = JSON.stringify({ id: "through-vite", messages: [{ author: "Dev", content: "hello" }] });
        const json = { "Content-Type": "application/json" };
        const stored = await fetch("/v1/conversations", { method: "POST", headers: json, body });
        const listed = await fetch("/v1/conversations");
        const deleted = await fetch("/v1/conversations/through-vite", { method: "DELETE" });
        return [stored.status, listed.status, deleted.status];
      });
      expect(statuses).toEqual([201, 200, 204]);

      const sitePort = (site.address() as AddressInfo).port;
      seen.length = 0;
      await browser.page.goto(`http://evil.example:${sitePort}/`);
      await crossSiteWrites(browser.page, dev);
      const writes = seen.filter((s) => s.method === "POST" && s.url.startsWith(`${dev}/v1/`));  // what it proxies
      expect(writes.map((s) => s.status)).toEqual([403, 403]);
      for (const id of PLANTED) expect(await storedIds()).not.toContain(id);
    } finally {
      await vite.close();
    }
  });
});
