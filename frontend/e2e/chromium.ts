// Where Debian's chromium is: CHROMIUM_PATH, else `chromium` (or `chromium-browser`) on PATH.
// Without it the end-to-end run is skipped with what to install (vitest.e2e.config.ts),
// unless MCP_RAG_REQUIRE_TOOLS=1 (CI, .ci/run), which makes a missing browser a failure.

import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export const REQUIRE_TOOLS = process.env.MCP_RAG_REQUIRE_TOOLS === "1";
export const CHROMIUM_MISSING = "needs chromium: apt-get install chromium (or set CHROMIUM_PATH)";

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findChromium(): string | undefined {
  const given = process.env.CHROMIUM_PATH;
  if (given) return executable(given) ? given : undefined;
  const dirs = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  for (const name of ["chromium", "chromium-browser"]) {
    for (const dir of dirs) {
      const path = join(dir, name);
      if (executable(path)) return path;
    }
  }
  return undefined;
}
