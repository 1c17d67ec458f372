// Debian's chromium (never a downloaded browser) through playwright-core, with
// a fresh profile, and screenshots of each screen at laptop and phone width.

import { mkdtemp, rm } from "node:fs/promises";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, type Page, chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SCREENSHOTS = resolve(dirname(fileURLToPath(import.meta.url)), "../../docs/screenshots");

export const LAPTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export interface Browser {
  context: BrowserContext;
  page: Page;
  close: () => Promise<void>;
}

export async function openBrowser(baseURL: string, extraArgs: string[] = []): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), "mcp-rag-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    baseURL,
    viewport: LAPTOP,
    locale: "en-US",
    timezoneId: "UTC",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
  });
  context.setDefaultTimeout(15_000);
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * docs/screenshots/<name>-laptop.png and <name>-phone.png of what the page shows
 * now; `center` (a selector) is scrolled to the middle of each view first.
 */
export async function screenshot(page: Page, name: string, center?: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  for (const [size, viewport] of [
    ["laptop", LAPTOP],
    ["phone", PHONE],
  ] as const) {
    await page.setViewportSize(viewport);
    if (center) await page.locator(center).first().evaluate((el) => el.scrollIntoView({ block: "center" }));
    await page.evaluate(() => new Promise(requestAnimationFrame));
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${size}.png`), animations: "disabled", caret: "hide" });
  }
  await page.setViewportSize(LAPTOP);
}
