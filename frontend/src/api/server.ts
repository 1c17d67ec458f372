// Operations endpoints: what the Settings screen shows about the server.
import { errorFrom, request, send } from "./client";
import type { VersionInfo } from "./types";

export function getVersion(): Promise<VersionInfo> {
  return request("/version");
}

export type Readiness = { ready: true } | { ready: false; detail: string };

/** /ready answers 503 with problem+json while the database is down; that is a state, not a failure. */
export async function getReadiness(): Promise<Readiness> {
  const response = await send("/ready");
  if (response.ok) return { ready: true };
  const error = await errorFrom(response);
  return { ready: false, detail: error.detail };
}
