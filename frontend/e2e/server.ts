// Vitest globalSetup for the end-to-end run: one real `mcp-rag serve` from the
// repository's virtualenv, on a free port, with a fresh data directory (its own
// embedded PostgreSQL), serving the built UI from frontend/dist. Stopped, and
// its data removed, when the run ends.

import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

const frontend = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const executable = resolve(frontend, "../.venv/bin/mcp-rag");

declare module "vitest" {
  export interface ProvidedContext {
    baseURL: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => done(port));
    });
  });
}

async function waitUntilReady(url: string, server: ChildProcess, log: string, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) break;
    try {
      if ((await fetch(`${url}/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const tail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-30).join("\n") : "";
  throw new Error(`mcp-rag serve did not become ready within ${seconds}s (exit code ${server.exitCode}):\n${tail}`);
}

function exited(server: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (server.exitCode !== null || server.signalCode !== null) return done();
    const kill = setTimeout(() => server.kill("SIGKILL"), 20_000);
    server.once("exit", () => {
      clearTimeout(kill);
      done();
    });
    // SIGINT, not SIGTERM: uvicorn re-raises SIGTERM after shutting down, which
    // skips the exit handler that stops the embedded PostgreSQL.
    server.kill("SIGINT");
  });
}

/** Stop the server, then make sure its embedded PostgreSQL is gone too. */
async function stop(server: ChildProcess, pgdata: string): Promise<void> {
  await exited(server);
  const pidFile = join(pgdata, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!pid) return;
  try {
    process.kill(pid, "SIGINT"); // PostgreSQL's "fast" shutdown
  } catch {
    return; // already gone
  }
  for (let i = 0; i < 100 && existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
}

export interface RunningServer {
  baseURL: string;
  stop: () => Promise<void>;
}

/** A fresh `mcp-rag serve` with its own data directory; also for test files that need a server of their own. */
export async function startServer(): Promise<RunningServer> {
  if (!existsSync(executable)) throw new Error(`${executable} is missing: run \`make install\` first`);
  if (!existsSync(join(frontend, "dist", "index.html"))) throw new Error("frontend/dist is missing: run `npm run build`");
  const dataDir = await mkdtemp(join(tmpdir(), "mcp-rag-e2e-"));
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  const log = join(dataDir, "server.log");
  const pgdata = join(dataDir, "data", "pgdata");
  const output = createWriteStream(log);
  // Only this run's settings: its own embedded database (never a DATABASE_URL
  // from the caller's shell), offline extractive answers, and no .env (the
  // working directory is the temp dir).
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith("MCP_RAG_") || /^(DATABASE_URL|DATABASE_READ_URL|OPENAI_API_KEY|ANTHROPIC_API_KEY)$/.test(name)) {
      delete env[name];
    }
  }
  Object.assign(env, {
    MCP_RAG_DATA_DIR: join(dataDir, "data"),
    MCP_RAG_ENV: "test",
    MCP_RAG_HOST: "127.0.0.1",
    MCP_RAG_ANSWER_PROVIDER: "extractive",
  });
  const server = spawn(executable, ["serve", "--port", String(port)], {
    cwd: dataDir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout?.pipe(output);
  server.stderr?.pipe(output);
  try {
    await waitUntilReady(baseURL, server, log, 90);
  } catch (err) {
    await stop(server, pgdata);
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    baseURL,
    stop: async () => {
      await stop(server, pgdata);
      output.end();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const running = await startServer();
  project.provide("baseURL", running.baseURL);
  return running.stop;
}
