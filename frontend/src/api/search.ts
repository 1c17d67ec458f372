import { request } from "./client";
import type { SearchRequest, SearchResult } from "./types";

export function search(body: SearchRequest, signal?: AbortSignal): Promise<SearchResult> {
  return request("/v1/search", { method: "POST", body: JSON.stringify(body), signal });
}
