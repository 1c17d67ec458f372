// The REST contract as the UI sees it: mirrors mcp_rag/models.py (and /openapi.json).

export interface ConversationSummary {
  id: string;
  external_id: string;
  namespace: string;
  title: string | null;
  source: string | null;
  url: string | null;
  participants: string[];
  metadata: Record<string, unknown>;
  started_at: string | null;
  ended_at: string | null;
  message_count: number;
  created_at: string;
  updated_at: string;
}

export interface ConversationPage {
  items: ConversationSummary[];
  next_cursor: string | null;
}

export interface Message {
  id: string;
  seq: number;
  author: string | null;
  role: string | null;
  content: string;
  timestamp: string | null;
  metadata: Record<string, unknown>;
}

export interface Transcript extends ConversationSummary {
  messages: Message[];
  offset: number;
  limit: number;
}

/** What POST /v1/conversations answers. */
/** POST /v1/import: what one uploaded file gave (mcp_rag/importers/report.py). */
export interface ImportError {
  /** Where in the file: "chats.jsonl:4", "conversations.json[12]", "export.zip:general/2024-03-04.json[7]". */
  location: string;
  message: string;
}

export interface FileImport {
  name: string;
  /** The detected format ("slack", "chatgpt", ...), several joined by commas, or "unknown". */
  format: string;
  /** Conversations created or extended. */
  conversations: number;
  messages_added: number;
  /** Conversations already stored in full. */
  skipped: number;
  errors: ImportError[];
}

export interface ImportResult {
  files: FileImport[];
  conversations: number;
  messages_added: number;
  errors: number;
}

/** Filters shared by search and ask; every one is optional. */
export interface Filters {
  conversation_id?: string;
  author?: string;
  source?: string;
  since?: string;
  until?: string;
  /** IANA zone the times are read in (default UTC). */
  timezone?: string;
}

/** The filters as the server applied them: the author's stored names, times absolute. */
export interface AppliedFilters {
  authors?: string[] | null;
  source?: string | null;
  since?: string | null;
  until?: string | null;
}

export interface SearchRequest extends Filters {
  query: string;
  top_k?: number;
}

export interface Hit {
  conversation_id: string;
  conversation_external_id: string;
  title: string | null;
  source: string | null;
  message_ids: string[];
  text: string;
  authors: string[];
  started_at: string | null;
  ended_at: string | null;
  score: number;
  /** Calibrated 0-1 chance that the hit answers the query; "strong" from 0.5. */
  relevance?: number;
  match?: "strong" | "weak";
}

export interface SearchResult {
  query: string;
  hits: Hit[];
  took_ms: number;
  /** False when no hit is a strong match: the hits are only the nearest turns. */
  relevant?: boolean;
  filters?: AppliedFilters | null;
}

export interface ChatTurn {
  role: "user" | "assistant";
  content: string;
}

export interface AskRequest extends Filters {
  question: string;
  top_k?: number;
  history: ChatTurn[];
}

export interface Citation {
  n: number;
  conversation_id: string;
  conversation_external_id: string;
  title: string | null;
  message_ids: string[];
  quote: string;
  timestamp: string | null;
}

export interface Answer {
  answer: string;
  /** False when the conversations hold no answer: `answer` says so and `sources` are only the nearest turns. */
  found?: boolean;
  citations: Citation[];
  /** True when no language model is configured: the answer quotes the best-supported sentences. */
  extractive: boolean;
  provider: string | null;
  model: string | null;
  question: string;
  sources: Hit[];
  error: string | null;
}

export interface VersionInfo {
  version: string;
  git_commit?: string | null;
  schema_revision?: string | null;
  embedding_model?: string | null;
  /** Which answerer /v1/ask uses: extractive, openai, anthropic, openai-compatible. */
  answer_provider?: string;
  answer_model?: string | null;
  [key: string]: unknown;
}

/** RFC 9457 problem details, as every error from the server is shaped. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
}
