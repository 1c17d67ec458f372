// What the Search and Ask screens say before the first question: whether anything
// is stored yet (if not, the way to Import), and which answerer Ask uses.

import { useEffect, useState } from "react";
import { Link } from "react-router";
import { listConversations } from "../api/conversations";
import { getVersion } from "../api/server";
import { Empty } from "./Status";

/** true when the store holds no conversation, false when it does, null until known (or unknown). */
export function useStoreEmpty(): boolean | null {
  const [empty, setEmpty] = useState<boolean | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    listConversations({ limit: 1 }, controller.signal).then(
      (page) => setEmpty(page.items.length === 0),
      () => setEmpty(null), // the screen's own request will say what is wrong
    );
    return () => controller.abort();
  }, []);
  return empty;
}

export function NothingStored() {
  return (
    <Empty title="No conversations stored yet">
      <p>
        <Link to="/import">Import conversations</Link> (a Slack export, ChatGPT or Claude export, WhatsApp or other
        chats), or send them through the API, the CLI or an MCP client.
      </p>
    </Empty>
  );
}

export interface AnswerProvider {
  provider: string;
  model: string | null;
}

export function useAnswerProvider(): AnswerProvider | null {
  const [provider, setProvider] = useState<AnswerProvider | null>(null);
  useEffect(() => {
    getVersion().then(
      (v) =>
        setProvider(
          typeof v.answer_provider === "string"
            ? { provider: v.answer_provider, model: typeof v.answer_model === "string" ? v.answer_model : null }
            : null,
        ),
      () => setProvider(null),
    );
  }, []);
  return provider;
}

export function describeProvider({ provider, model }: AnswerProvider): string {
  if (provider === "extractive") return "no language model: answers quote the best-matching passages";
  return model ? `${provider} · ${model}` : provider;
}
