import react from "@vitejs/plugin-react";
import type { ProxyOptions } from "vite";
import { defineConfig } from "vitest/config";

// `npm run dev` proxies the API to a local `mcp-rag serve` (default port 8000).
const api = process.env.MCP_RAG_URL ?? "http://127.0.0.1:8000";

// The server refuses writes whose Origin is not its own. The UI's requests come from
// the dev server's origin, so the proxy names the server's instead, for those only:
// another site's page sending through the dev server keeps its own Origin and is refused.
const proxy: ProxyOptions = {
  target: api,
  changeOrigin: true,
  configure: (server) => {
    server.on("proxyReq", (request, incoming) => {
      const origin = incoming.headers.origin;
      if (origin && origin === `http://${incoming.headers.host}`) request.setHeader("origin", new URL(api).origin);
    });
  },
};

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: Object.fromEntries(["/v1", "/health", "/ready", "/version"].map((path) => [path, proxy])),
  },
  build: { outDir: "dist", sourcemap: false },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
    // Dates in assertions are written in UTC.
    env: { TZ: "UTC" },
    unstubGlobals: true,
    // One jsdom per worker instead of one per file: the suite runs in a third of the time.
    isolate: false,
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
