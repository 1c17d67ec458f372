// Realistic records in the server's shapes.

import type { ConversationSummary, Hit, Message, Transcript } from "../api/types";

export const SKI_ID = "bf78f237-d0e0-4c5b-9762-9648159d7e88";

export const skiHit: Hit = {
  conversation_id: SKI_ID,
  conversation_external_id: "ski-trip-2024",
  title: "Planning the ski trip",
  source: "whatsapp",
  message_ids: ["1", "2", "3"],
  text: [
    "Kate (Friday 29 December 2023, 22:45): I'm finally going skiing in Colorado over winter break!",
    "Elise (Friday 29 December 2023, 22:46): No way! Which resort are you going to?",
    "Kate (2023-12-29 22:47): Breckenridge. We leave on January 6th.",
  ].join("\n"),
  authors: ["Elise", "Kate"],
  started_at: "2023-12-29T22:45:00Z",
  ended_at: "2023-12-29T22:47:30Z",
  score: 0.0328,
};

export function summary(overrides: Partial<ConversationSummary> = {}): ConversationSummary {
  return {
    id: SKI_ID,
    external_id: "ski-trip-2024",
    namespace: "default",
    title: "Planning the ski trip",
    source: "whatsapp",
    url: null,
    participants: ["Elise", "Kate"],
    metadata: {},
    started_at: "2023-12-29T22:45:00Z",
    ended_at: "2023-12-29T22:49:02Z",
    message_count: 4,
    created_at: "2024-06-01T10:00:00Z",
    updated_at: "2024-06-01T10:00:00Z",
    ...overrides,
  };
}

export function messages(count: number, start = 0): Message[] {
  return Array.from({ length: count }, (_, i) => ({
    id: String(start + i + 1),
    seq: start + i,
    author: (start + i) % 2 ? "Elise" : "Kate",
    role: "user",
    content: `Message number ${start + i + 1}`,
    timestamp: "2023-12-29T22:45:00Z",
    metadata: {},
  }));
}

export function transcript(all: Message[], offset: number, limit: number, overrides: Partial<Transcript> = {}): Transcript {
  return {
    ...summary({ message_count: all.length }),
    messages: all.slice(offset, offset + limit),
    offset,
    limit,
    ...overrides,
  };
}
