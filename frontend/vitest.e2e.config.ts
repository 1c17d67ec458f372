import { defineConfig } from "vitest/config";

// End-to-end: a real server (e2e/server.ts) and Debian's chromium driven by playwright-core.
export default defineConfig({
  test: {
    environment: "node",
    include: ["e2e/**/*.e2e.test.ts"],
    globalSetup: ["e2e/server.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The flows build on each other (import, then search, ...): stop at the first failure.
    bail: 1,
    expect: { poll: { timeout: 20_000, interval: 100 } },
  },
});
