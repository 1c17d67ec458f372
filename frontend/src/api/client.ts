// One fetch wrapper for the whole UI: adds the token, turns problem+json into ApiError.

import { getToken } from "./token";
import type { Problem } from "./types";

export class ApiError extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;

  constructor(status: number, title: string, detail: string) {
    super(detail || title);
    this.name = "ApiError";
    this.status = status;
    this.title = title;
    this.detail = detail || title;
  }

  /** The server refused the caller: an API token is missing or lacks a scope. */
  get isAuth(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

export function authHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** fetch() with the token, and network failures as ApiError (status 0). */
export async function send(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(authHeaders())) headers.set(name, value);
  if (init.body !== undefined && typeof init.body === "string" && !headers.has("Content-Type")) {
    headers.set("Content-Type", "application/json");
  }
  try {
    return await fetch(path, { ...init, headers });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, "Network error", "Cannot reach the mcp-rag server. Is it running?");
  }
}

/** The error a failed response carries: problem+json `detail` when there is one. */
export async function errorFrom(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  return problemError(response.status, response.statusText, text);
}

/** The same for a response read some other way (XMLHttpRequest): its status and body text. */
export function problemError(status: number, statusText: string, text: string): ApiError {
  let problem: Problem = {};
  try {
    problem = JSON.parse(text) as Problem;
  } catch {
    // not JSON (a proxy's HTML error page): fall back to the status line
  }
  const title = problem.title ?? (statusText || `HTTP ${status}`);
  const detail = typeof problem.detail === "string" ? problem.detail : text.slice(0, 300) || title;
  return new ApiError(status, title, detail);
}

/** JSON request → JSON response (undefined for 204). */
export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await send(path, init);
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
