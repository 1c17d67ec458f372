// The Ask chat lives above the routes, so that opening a cited message and
// coming Back finds the chat (and an answer still streaming) as it was.

import { type ReactNode, createContext, useCallback, useContext, useRef, useState } from "react";
import { ask } from "./api/ask";
import type { Answer, ChatTurn, Hit } from "./api/types";
import { type FilterValues, NO_FILTERS, toFilters } from "./components/FilterFields";

export interface Exchange {
  id: number;
  question: string;
  /** The answer as streamed so far; the final text once done. */
  answer: string;
  sources: Hit[];
  result: Answer | null;
  status: "waiting" | "streaming" | "done" | "failed" | "stopped";
  error: unknown;
}

interface AskSession {
  exchanges: Exchange[];
  filters: FilterValues;
  setFilters: (filters: FilterValues) => void;
  busy: boolean;
  askQuestion: (question: string) => void;
  stop: () => void;
  clear: () => void;
}

const Context = createContext<AskSession | null>(null);

/** Earlier questions and answers, sent with a follow-up so it can refer to them. */
export function historyOf(exchanges: Exchange[]): ChatTurn[] {
  return exchanges
    .filter((e) => e.status === "done")
    .flatMap((e): ChatTurn[] => [
      { role: "user", content: e.question },
      { role: "assistant", content: e.answer },
    ]);
}

export function AskSessionProvider({ children }: { children: ReactNode }) {
  const [exchanges, setExchanges] = useState<Exchange[]>([]);
  const [filters, setFilters] = useState<FilterValues>(NO_FILTERS);
  const controller = useRef<AbortController | null>(null);
  const nextId = useRef(1);

  const update = (id: number, change: (e: Exchange) => Partial<Exchange>) =>
    setExchanges((list) => list.map((e) => (e.id === id ? { ...e, ...change(e) } : e)));

  const askQuestion = useCallback(
    (question: string) => {
      const id = nextId.current++;
      const history = historyOf(exchanges);
      const abort = new AbortController();
      controller.current = abort;
      setExchanges((list) => [
        ...list,
        { id, question, answer: "", sources: [], result: null, status: "waiting", error: null },
      ]);
      ask(
        { question, history, ...toFilters(filters) },
        {
          signal: abort.signal,
          onSources: (sources) => update(id, () => ({ sources })),
          onToken: (text) => update(id, (e) => ({ answer: e.answer + text, status: "streaming" })),
        },
      ).then(
        (result) =>
          update(id, () => ({ result, answer: result.answer, sources: result.sources ?? [], status: "done" })),
        (error: unknown) => update(id, () => (abort.signal.aborted ? { status: "stopped" } : { status: "failed", error })),
      ).finally(() => {
        if (controller.current === abort) controller.current = null;
      });
    },
    [exchanges, filters],
  );

  const busy = exchanges.some((e) => e.status === "waiting" || e.status === "streaming");
  const value: AskSession = {
    exchanges,
    filters,
    setFilters,
    busy,
    askQuestion,
    stop: () => controller.current?.abort(),
    clear: () => {
      controller.current?.abort();
      setExchanges([]);
    },
  };
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useAskSession(): AskSession {
  const session = useContext(Context);
  if (!session) throw new Error("useAskSession needs an AskSessionProvider");
  return session;
}
