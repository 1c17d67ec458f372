// The API token lives in this browser only (localStorage) and goes out as a Bearer header.

const KEY = "mcp-rag.api-token";

export function getToken(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null; // storage disabled (private mode): run without a token
  }
}

export function saveToken(token: string): void {
  localStorage.setItem(KEY, token.trim());
}

export function clearToken(): void {
  localStorage.removeItem(KEY);
}
