import { query, request } from "./client";
import type { ConversationPage, Transcript } from "./types";

export interface ListOptions {
  limit?: number;
  cursor?: string | null;
  source?: string;
  author?: string;
  q?: string;
}

/** A page from `offset`, or the messages around one message (`around`, with `before` / `after`). */
export interface PageOptions {
  offset?: number;
  limit?: number;
  around?: string;
  before?: number;
  after?: number;
}

export function listConversations(options: ListOptions = {}, signal?: AbortSignal): Promise<ConversationPage> {
  return request(`/v1/conversations${query({ ...options })}`, { signal });
}

export function getTranscript(id: string, page: PageOptions = {}, signal?: AbortSignal): Promise<Transcript> {
  return request(`/v1/conversations/${encodeURIComponent(id)}${query({ ...page })}`, { signal });
}

export function deleteConversation(id: string): Promise<void> {
  return request(`/v1/conversations/${encodeURIComponent(id)}`, { method: "DELETE" });
}
