import { query, request } from "./client";
import type { ConversationPage, Transcript } from "./types";

export interface ListOptions {
  limit?: number;
  cursor?: string | null;
  source?: string;
  q?: string;
}

export function listConversations(options: ListOptions = {}, signal?: AbortSignal): Promise<ConversationPage> {
  return request(`/v1/conversations${query({ ...options })}`, { signal });
}

export function getTranscript(id: string, offset = 0, limit = 200, signal?: AbortSignal): Promise<Transcript> {
  return request(`/v1/conversations/${encodeURIComponent(id)}${query({ offset, limit })}`, { signal });
}

export function deleteConversation(id: string): Promise<void> {
  return request(`/v1/conversations/${encodeURIComponent(id)}`, { method: "DELETE" });
}
