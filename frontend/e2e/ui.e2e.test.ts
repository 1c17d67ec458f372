// The web UI in a real browser against a real server: import files (our JSON
// and JSONL, a Slack export zip), search,
// open a hit at its message, ask and follow a citation, delete, and use a token.
// The flows build on each other, in order, in one browser.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Locator, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from "vitest";
import { type Browser, openBrowser, screenshot } from "./browser";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, "fixtures");
const python = resolve(here, "../../.venv/bin/python");
const made: string[] = [];
const baseURL = inject("baseURL");
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${baseURL}${path}`, { ...init, headers: { "Content-Type": "application/json", ...init.headers } });
}

/** A Slack workspace export zip of the hand-written export in fixtures/slack-export (channels.json, users.json, one folder per channel). */
function slackExportZip(): string {
  const path = join(mkdtempSync(join(tmpdir(), "mcp-rag-e2e-zip-")), "slack-export.zip");
  const members = ["channels.json", "users.json", "general", "random"];
  execFileSync(python, ["-m", "zipfile", "-c", path, ...members], { cwd: join(fixtures, "slack-export") });
  made.push(dirname(path));
  return path;
}

/** An import row's facts (Format, Conversations, ...) as term → value. */
async function importFacts(row: Locator): Promise<Record<string, string>> {
  return row.locator(".import-facts > div").evaluateAll((pairs) =>
    Object.fromEntries(pairs.map((pair) => [pair.querySelector("dt")?.textContent, pair.querySelector("dd")?.textContent])),
  );
}

/** The message element's box lies inside the visible part of the page. */
async function inViewport(selector: string): Promise<boolean> {
  return page.locator(selector).evaluate((el) => {
    const box = el.getBoundingClientRect();
    return box.top >= 0 && box.top < window.innerHeight && box.bottom > 0;
  });
}

beforeAll(async () => {
  browser = await openBrowser(baseURL);
  page = browser.page;
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(message.text());
  });
});

// On a failure, keep what the browser showed and said: the run's only witness.
afterEach(async ({ task }) => {
  if (task.result?.state !== "fail") return;
  const path = join(tmpdir(), "mcp-rag-e2e-failure.png");
  await page.screenshot({ path, fullPage: true }).catch(() => {});
  console.error(`e2e failure at ${page.url()}; screenshot: ${path}\nbrowser errors:\n${pageErrors.join("\n") || "(none)"}`);
});

afterAll(async () => {
  await browser?.close();
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** The page's background colour as the browser computes it. */
async function background(): Promise<string> {
  return page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
}

const LIGHT_BG = "rgb(246, 247, 249)";
const DARK_BG = "rgb(18, 21, 28)";

/** JSON Lines of `n` small conversations: an import long enough to report progress while it runs. */
function manyConversations(n: number): Buffer {
  const lines = Array.from({ length: n }, (_, c) =>
    JSON.stringify({
      id: `bulk-${c}`,
      title: `Bulk ${c}`,
      messages: Array.from({ length: 6 }, (_, m) => ({ author: m % 2 ? "Kim" : "Lou", content: `Bulk ${c} turn ${m}: shipping plan item ${m}` })),
    }),
  );
  return Buffer.from(lines.join("\n") + "\n");
}

describe("the web UI against a real mcp-rag server", () => {
  test("with nothing stored, Search and Ask point to Import, Ask names its answerer, and the theme follows the system or the toggle", async () => {
    await page.emulateMedia({ colorScheme: "light" });
    await page.goto("/");
    const empty = page.locator(".status.empty");
    await expect.poll(() => empty.locator(".empty-title").textContent()).toBe("No conversations stored yet");
    expect(await empty.getByRole("link", { name: "Import conversations" }).getAttribute("href")).toBe("/import");
    expect(await background()).toBe(LIGHT_BG);
    await screenshot(page, "empty-search");

    await page.emulateMedia({ colorScheme: "dark" });
    await expect.poll(background).toBe(DARK_BG);
    await screenshot(page, "empty-search-dark");

    await page.goto("/chat");
    await expect.poll(() => page.locator(".status.empty .empty-title").textContent()).toBe("No conversations stored yet");
    expect(await page.getByTestId("answer-provider").textContent()).toBe(
      "Answers by: no language model: answers quote the best-matching passages",
    );
    await page.goto("/settings");
    await expect.poll(() => page.getByTestId("settings-answer-provider").textContent()).toContain("no language model");

    // The toggle overrides the system, and the choice survives a reload.
    const toggle = page.locator(".theme-toggle");
    expect(await toggle.textContent()).toContain("System");
    await toggle.click();
    expect(await toggle.textContent()).toContain("Light");
    expect(await background()).toBe(LIGHT_BG);
    await toggle.click();
    expect(await toggle.textContent()).toContain("Dark");
    await page.emulateMedia({ colorScheme: "light" });
    await page.reload();
    await expect.poll(background).toBe(DARK_BG);
    await page.locator(".theme-toggle").click(); // back to following the system
    expect(await page.locator(".theme-toggle").textContent()).toContain("System");
    await expect.poll(background).toBe(LIGHT_BG);
  });

  test("imports dropped and chosen files through the server: our JSON and JSONL, a Slack export zip, and a file it cannot read", async () => {
    await page.goto("/import");
    await expect.poll(() => page.title()).toBe("Import · mcp-rag");

    // Drag and drop: a real drop event carrying a File, as the browser makes it.
    const offsite = readFileSync(join(fixtures, "offsite.json"), "utf8");
    const transfer = await page.evaluateHandle((text) => {
      const data = new DataTransfer();
      data.items.add(new File([text], "offsite.json", { type: "application/json" }));
      return data;
    }, offsite);
    await page.dispatchEvent("[data-testid=dropzone]", "drop", { dataTransfer: transfer });
    // The file picker, as a keyboard user reaches it: three files at once, of any type.
    await page.setInputFiles("input[type=file]", [
      { name: "team-chats.jsonl", mimeType: "", buffer: readFileSync(join(fixtures, "team-chats.jsonl")) },
      { name: "slack-export.zip", mimeType: "application/zip", buffer: readFileSync(slackExportZip()) },
      { name: "holiday.png", mimeType: "image/png", buffer: Buffer.from("\x89PNG\r\n\x1a\n not a chat", "latin1") },
    ]);

    const row = (name: string) => page.getByRole("listitem", { name });
    for (const name of ["offsite.json", "team-chats.jsonl", "slack-export.zip"]) {
      await expect.poll(() => row(name).locator(".badge").textContent()).toBe("Done");
    }
    await expect.poll(() => row("holiday.png").locator(".badge").textContent()).toBe("Failed");
    expect(await importFacts(row("offsite.json"))).toEqual({
      Format: "mcp-rag JSON",
      Conversations: "1",
      "Messages added": "3",
      "Skipped (already stored)": "0",
      Errors: "0",
    });
    expect(await importFacts(row("team-chats.jsonl"))).toMatchObject({ Format: "mcp-rag JSON", Conversations: "2", "Messages added": "27", Errors: "1" });
    expect(await row("team-chats.jsonl").locator(".import-errors").textContent()).toBe(
      "team-chats.jsonl:3: messages.0.content: Value error, content is empty",
    );
    expect(await importFacts(row("slack-export.zip"))).toEqual({
      Format: "Slack export",
      Conversations: "4",
      "Messages added": "7",
      "Skipped (already stored)": "0",
      Errors: "0",
    });
    expect(await importFacts(row("holiday.png"))).toMatchObject({ Format: "Not recognised", Conversations: "0", Errors: "1" });
    expect(await row("holiday.png").locator(".import-errors").textContent()).toMatch(
      /^holiday\.png: no conversations found in a format we read/,
    );
    await screenshot(page, "import", "[aria-label='slack-export.zip']");

    // Stored for real: the conversations screen lists what the UI imported.
    await page.getByRole("link", { name: "See the conversations" }).click();
    await page.waitForURL(/\/conversations$/);
    const titles = page.locator(".conversation-row h2");
    await expect.poll(() => titles.count()).toBe(7);
    expect((await titles.allTextContents()).sort()).toEqual([
      "#general 2024-03-04",
      "#general 2024-03-05",
      "#general: Morning all! The Q2 offsite is booked: Lisbon, May 14-16 :tada:",
      "#random 2024-03-04",
      "Can't log in after password reset",
      "Launch planning for Atlas 2.0",
      "Team offsite venue",
    ]);
  });

  test("searches, marks the matches, and opens a hit's conversation at the exact message", async () => {
    await page.goto("/");
    await page.getByLabel("Search conversations").fill("when does the press embargo lift");
    await page.keyboard.press("Enter");
    const first = page.locator(".hit").first();
    await first.waitFor();
    expect(await first.locator("h2").textContent()).toBe("Launch planning for Atlas 2.0");
    const marked = await first.locator(".turn.best mark").allTextContents();
    expect(marked.map((m) => m.toLowerCase())).toEqual(expect.arrayContaining(["press", "embargo", "lifts"]));
    expect(await first.locator(".turn.best .speaker").textContent()).toBe("Dana");
    await screenshot(page, "search");

    const open = first.locator(".turn.best .open-message");
    const href = new URL((await open.getAttribute("href")) ?? "", baseURL);
    const hitWindow = href.searchParams.get("highlight")?.split(",") ?? [];
    await open.click();
    await page.waitForURL(/\/conversations\/[0-9a-f-]{36}(\?[^#]*)?#m-m17$/);
    const target = "[id='m-m17']";
    await expect.poll(() => page.locator(target).getAttribute("class")).toContain("target");
    expect(await page.locator(target).textContent()).toContain("The press embargo lifts on Thursday");
    expect(await page.locator(".message.target").count()).toBe(1);
    // The rest of the hit's window (when it spans several messages) is marked too, more quietly.
    expect(await page.locator(".message.related").count()).toBe(Math.max(0, hitWindow.length - 1));
    await expect.poll(() => inViewport(target)).toBe(true);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("m-m17");
    await screenshot(page, "conversation", target);

    // A deep link reloads into the same place (the server's SPA fallback).
    await page.reload();
    await expect.poll(() => page.locator(target).getAttribute("class")).toContain("target");
    await expect.poll(() => inViewport(target)).toBe(true);
  });

  test("lists conversations with counts and filters them by title", async () => {
    await page.goto("/conversations");
    const rows = page.locator(".conversation-row");
    await expect.poll(() => rows.count()).toBe(7);
    const atlas = rows.filter({ hasText: "Launch planning for Atlas 2.0" });
    expect(await atlas.locator(".count").textContent()).toBe("24 messages");
    expect(await page.locator(".meta[aria-live]").textContent()).toContain("37 messages");
    await screenshot(page, "conversations");

    await page.getByLabel("Title or id").fill("venue");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/\?q=venue$/);
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().locator("h2").textContent()).toBe("Team offsite venue");
  });

  test("asks a question, streams a cited answer, opens a citation and asks a follow-up", async () => {
    await page.goto("/chat");
    const streamed = page.waitForResponse((r) => r.url().endsWith("/v1/ask"));
    await page.getByLabel("Ask a question").fill("When does the press embargo lift?");
    await page.keyboard.press("Enter");
    expect((await streamed).headers()["content-type"]).toContain("text/event-stream");

    const answer = page.locator(".exchange").first();
    await answer.locator(".label").waitFor();
    expect(await answer.locator(".label").textContent()).toContain("Extractive answer");
    const cite = answer.locator(".answer-body a.cite").first();
    await cite.waitFor();
    const quote = await answer.locator(".citations q").first().textContent();
    expect(quote?.length).toBeGreaterThan(10);

    await cite.click();
    await page.waitForURL(/\/conversations\/[0-9a-f-]{36}.*#m-/);
    const targetId = decodeURIComponent(new URL(page.url()).hash.slice(1));
    const target = page.locator(`[id='${targetId}']`);
    await expect.poll(() => target.getAttribute("class")).toContain("target");
    // The cited quote is in the message the citation opened.
    const words = (quote ?? "").replace(/[“”"…]/g, "").split(/\s+/).slice(0, 5).join(" ");
    expect(await target.locator(".message-text").textContent()).toContain(words);

    // Back to the chat, which kept its answer; a follow-up carries the history.
    await page.goBack();
    await page.waitForURL(/\/chat$/);
    expect(await page.locator(".exchange").count()).toBe(1);
    const followUp = page.waitForRequest((r) => r.url().endsWith("/v1/ask"));
    await page.getByLabel("Ask a follow-up question").fill("And when is the release itself live?");
    await page.keyboard.press("Enter");
    const body = JSON.parse((await followUp).postData() ?? "{}") as { history: { role: string }[] };
    expect(body.history.map((h) => h.role)).toEqual(["user", "assistant"]);
    await page.locator(".exchange").nth(1).locator(".label").waitFor();
    await screenshot(page, "ask");
  });

  test("deletes a conversation after confirming", async () => {
    await page.goto("/conversations");
    await page.getByRole("link", { name: "Can't log in after password reset" }).click();
    await page.getByRole("heading", { name: "Can't log in after password reset" }).waitFor();
    await page.getByRole("button", { name: "Delete conversation…" }).click();
    const dialog = page.getByRole("alertdialog");
    expect(await dialog.textContent()).toContain("and its 3 messages? This cannot be undone.");
    // Focus starts on Cancel, so a stray Enter deletes nothing.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
    await screenshot(page, "delete");
    await dialog.getByRole("button", { name: "Delete", exact: true }).click();

    await page.waitForURL(/\/conversations$/);
    expect(await page.getByRole("status").first().textContent()).toContain(
      "Deleted “Can't log in after password reset”.",
    );
    await expect.poll(() => page.locator(".conversation-row").count()).toBe(6);
    expect((await api("/v1/conversations/support-4411")).status).toBe(404);
  });

  test("shows the server's status, and sends the saved API token once the server requires one", async () => {
    await page.goto("/settings");
    const facts = page.locator(".facts");
    await facts.waitFor();
    const text = await facts.textContent();
    expect(text).toContain("all-MiniLM-L6-v2");
    expect(text).toContain("Ready");
    await screenshot(page, "settings");

    // Once a token exists the server refuses callers without one.
    const created = await api("/v1/tokens", { method: "POST", body: JSON.stringify({ name: "e2e", scopes: ["read", "write"] }) });
    expect(created.status).toBe(201);
    const { token } = (await created.json()) as { token: string };
    await page.goto("/conversations");
    const alert = page.getByRole("alert");
    expect(await alert.textContent()).toContain("an API token is required");
    await alert.getByRole("link", { name: "Set an API token in Settings" }).click();

    await page.getByLabel("Token", { exact: true }).fill(token);
    await page.getByRole("button", { name: "Save" }).click();
    expect(await page.getByRole("status").filter({ hasText: "accepts" }).textContent()).toContain(
      "The server accepts this token",
    );
    expect(await page.evaluate(() => localStorage.getItem("mcp-rag.api-token"))).toBe(token);
    await page.goto("/conversations");
    await expect.poll(() => page.locator(".conversation-row").count()).toBe(6);
    // Uploads carry the token too: the same file again is accepted, and nothing is stored twice.
    await page.goto("/import");
    await page.setInputFiles("input[type=file]", join(fixtures, "offsite.json"));
    const again = page.getByRole("listitem", { name: "offsite.json" });
    await expect.poll(() => again.locator(".badge").textContent()).toBe("Done");
    expect(await importFacts(again)).toMatchObject({ Conversations: "0", "Messages added": "0", "Skipped (already stored)": "1" });
    // The screens still load by their addresses once the API is locked, and search with the token.
    await page.goto("/chat");
    await page.getByRole("heading", { name: "Ask", level: 1 }).waitFor();
    await page.goto("/?q=lake%20house");
    expect(await page.locator(".hit h2").first().textContent()).toBe("Team offsite venue");
  });

  test("imports a file whose format was chosen, and shows counts and rate while the server imports", async () => {
    await page.goto("/import");
    // Not recognised by its content alone, read as a plain transcript once chosen.
    const standup = Buffer.from("[09:00] Kate: morning all\n[09:01] Emi: standup moves to 9:30 tomorrow\n");
    await page.setInputFiles("input[type=file]", { name: "standup.dat", mimeType: "", buffer: standup });
    const guessed = page.getByRole("listitem", { name: "standup.dat" });
    await expect.poll(() => guessed.locator(".badge").textContent()).toBe("Failed");
    expect(await guessed.locator(".hint").textContent()).toContain("Choose its format");

    await page.getByLabel("Format").selectOption("transcript");
    await page.setInputFiles("input[type=file]", { name: "standup.dat", mimeType: "", buffer: standup });
    const forced = page.getByRole("listitem", { name: "standup.dat" }).first();
    await expect.poll(() => forced.locator(".badge").textContent()).toBe("Done");
    expect(await importFacts(forced)).toMatchObject({ Format: "Plain transcript", Conversations: "1", "Messages added": "2" });

    await page.getByLabel("Format").selectOption("");
    await page.setInputFiles("input[type=file]", { name: "bulk.jsonl", mimeType: "", buffer: manyConversations(40) });
    const bulk = page.getByRole("listitem", { name: "bulk.jsonl" });
    const status = bulk.getByRole("status");
    await expect.poll(() => status.textContent(), { timeout: 60_000 }).toMatch(
      /^Importing: \d+ conversations?, \d+ messages? stored \([\d.,]+ messages\/s, \d+ s\)$/,
    );
    await screenshot(page, "import-progress", "[aria-label='bulk.jsonl']");
    await expect.poll(() => bulk.locator(".badge").textContent(), { timeout: 120_000 }).toBe("Done");
    expect(await importFacts(bulk)).toMatchObject({ Conversations: "40", "Messages added": "240" });

    // Filters in words: the author as typed, times as said; the reply says what they were read as.
    await page.goto("/?q=shipping%20plan&author=KIM");
    await expect.poll(() => page.locator(".meta[aria-live]").textContent()).toContain("by Kim");
    await page.goto("/?q=offsite%20booked&since=in%20March%202024&until=in%20March%202024");
    await expect.poll(() => page.locator(".meta[aria-live]").textContent()).toMatch(/from .*2024.*to .*2024/);

    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto("/?q=shipping%20plan");
    await page.locator(".hit").first().waitFor();
    await screenshot(page, "search-dark");
    await page.emulateMedia({ colorScheme: "light" });
  }, 240_000);
});
