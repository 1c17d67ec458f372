import { defineConfig } from "vitest/config";
import { CHROMIUM_MISSING, REQUIRE_TOOLS, findChromium } from "./e2e/chromium";

// Without chromium the run is skipped (nothing started), or fails under MCP_RAG_REQUIRE_TOOLS=1.
const browser = findChromium() !== undefined;
if (!browser) {
  if (REQUIRE_TOOLS) throw new Error(`${CHROMIUM_MISSING} (MCP_RAG_REQUIRE_TOOLS=1 makes this a failure)`);
  console.warn(`SKIPPED end-to-end UI tests: ${CHROMIUM_MISSING}`);
}

// End-to-end: a real server (e2e/server.ts) and Debian's chromium driven by playwright-core.
export default defineConfig({
  test: {
    environment: "node",
    include: browser ? ["e2e/**/*.e2e.test.ts"] : [],
    passWithNoTests: !browser,
    globalSetup: browser ? ["e2e/server.ts"] : [],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The flows build on each other (import, then search, ...): stop at the first failure.
    bail: 1,
    expect: { poll: { timeout: 20_000, interval: 100 } },
  },
});
