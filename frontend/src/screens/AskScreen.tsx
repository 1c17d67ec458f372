// Ask: questions answered from the conversations, streamed as they are written,
// with numbered citations that open the cited messages. Follow-ups carry the
// chat so far.

import { type FormEvent, type KeyboardEvent, type ReactNode, useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import type { Answer, Citation, Hit } from "../api/types";
import { type Exchange, useAskSession } from "../askSession";
import { FilterFields, activeFilterCount } from "../components/FilterFields";
import { Empty, ErrorMessage, Loading } from "../components/Status";
import { NothingStored, describeProvider, useAnswerProvider, useStoreEmpty } from "../components/StoreHints";
import { formatDateTime, plural } from "../format";
import { messageLink } from "../turns";

export default function AskScreen() {
  const { exchanges, filters, setFilters, busy, askQuestion, stop, clear } = useAskSession();
  const [question, setQuestion] = useState("");
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const endRef = useRef<HTMLDivElement>(null);
  const lastAnswerLength = exchanges[exchanges.length - 1]?.answer.length ?? 0;
  const storeEmpty = useStoreEmpty();
  const provider = useAnswerProvider();

  useEffect(() => {
    endRef.current?.scrollIntoView?.({ block: "end" });
  }, [exchanges.length, lastAnswerLength]);

  function submit(event?: FormEvent) {
    event?.preventDefault();
    if (!question.trim() || busy) return;
    askQuestion(question.trim());
    setQuestion("");
    inputRef.current?.focus();
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    // Enter asks; Shift+Enter starts a new line.
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    }
  }

  const filterCount = activeFilterCount(filters);
  return (
    <section className="ask" aria-labelledby="ask-title">
      <div className="title-row">
        <h1 id="ask-title">Ask</h1>
        {exchanges.length > 0 && (
          <button type="button" className="secondary" onClick={clear}>
            New chat
          </button>
        )}
      </div>
      {exchanges.length === 0 && storeEmpty ? (
        <NothingStored />
      ) : exchanges.length === 0 ? (
        <Empty title="Ask a question about your conversations">
          <p>
            Answers quote the conversations and cite them: click a number like <span className="cite-sample">1</span>{" "}
            to open that message. Ask follow-up questions; the chat so far goes with them.
          </p>
        </Empty>
      ) : (
        <ol className="chat">
          {exchanges.map((exchange) => (
            <ExchangeItem key={exchange.id} exchange={exchange} />
          ))}
        </ol>
      )}
      <div ref={endRef} />
      {/* Streaming text is not read out token by token; its end is announced once. */}
      <p className="visually-hidden" role="status">
        {exchanges[exchanges.length - 1]?.status === "done" ? "Answer ready" : ""}
      </p>
      {provider && (
        <p className="meta provider-note" data-testid="answer-provider">
          Answers by: {describeProvider(provider)}
        </p>
      )}
      <form className="ask-form" onSubmit={submit}>
        <label htmlFor="ask-question" className="visually-hidden">
          {exchanges.length ? "Ask a follow-up question" : "Ask a question"}
        </label>
        <textarea
          id="ask-question"
          ref={inputRef}
          rows={2}
          value={question}
          onChange={(e) => setQuestion(e.target.value)}
          onKeyDown={onKeyDown}
          placeholder={exchanges.length ? "Ask a follow-up…" : "e.g. Which resort is Kate going to?"}
          autoFocus
        />
        {busy ? (
          <button type="button" className="secondary" onClick={stop}>
            Stop
          </button>
        ) : (
          <button type="submit" disabled={!question.trim()}>
            Ask
          </button>
        )}
        <details className="filter-box" open={filterCount > 0}>
          <summary>Limit to…{filterCount > 0 ? ` (${filterCount})` : ""}</summary>
          <FilterFields values={filters} onChange={setFilters} idPrefix="ask" />
        </details>
      </form>
    </section>
  );
}

function ExchangeItem({ exchange }: { exchange: Exchange }) {
  const { question, answer, result, status, error, sources } = exchange;
  return (
    <li className="exchange">
      <div className="bubble question">
        <span className="visually-hidden">You asked: </span>
        {question}
      </div>
      <div className="bubble answer" aria-busy={status === "waiting" || status === "streaming"}>
        {status === "waiting" && (
          <Loading
            label={sources.length ? `Reading ${plural(sources.length, "source")}…` : "Searching the conversations…"}
          />
        )}
        {answer && (
          <div className="answer-text">
            <AnswerText text={answer} citations={result?.citations ?? []} />
            {status === "streaming" && <span className="cursor" aria-hidden="true" />}
          </div>
        )}
        {status === "stopped" && <p className="meta">Stopped.</p>}
        {status === "failed" && <ErrorMessage error={error} />}
        {result && <AnswerFooter result={result} asked={question} />}
      </div>
    </li>
  );
}

/** The answer with its own [n] markers as links to the cited messages. A marker is a link only
 * when its number is in the answer's citation list and it stands outside the text the answer
 * quotes: a literal "[1]" inside a quoted message stays text. */
export function AnswerText({ text, citations }: { text: string; citations: Citation[] }) {
  const byNumber = new Map(citations.map((c) => [c.n, c]));
  const quoted = quotedRanges(text, citations);
  const parts: ReactNode[] = [];
  let last = 0;
  for (const m of text.matchAll(/\[(\d+)\]/g)) {
    const citation = byNumber.get(Number(m[1]));
    const at = m.index ?? 0;
    if (!citation || quoted.some(([start, end]) => at >= start && at < end)) continue;
    parts.push(text.slice(last, at));
    parts.push(
      <Link
        key={at}
        className="cite"
        to={citationLink(citation)}
        aria-label={`Citation ${citation.n}: ${citation.title || citation.conversation_external_id}`}
        title={citation.quote}
      >
        {citation.n}
      </Link>,
    );
    last = at + m[0].length;
  }
  parts.push(text.slice(last));
  return <p className="answer-body">{parts}</p>;
}

/** Where the answer text repeats a citation's verbatim quote: [start, end) offsets. */
function quotedRanges(text: string, citations: Citation[]): [number, number][] {
  const ranges: [number, number][] = [];
  for (const { quote } of citations) {
    if (!quote) continue;
    for (let at = text.indexOf(quote); at >= 0; at = text.indexOf(quote, at + quote.length)) {
      ranges.push([at, at + quote.length]);
    }
  }
  return ranges;
}

function citationLink(citation: Citation): string {
  return messageLink(citation.conversation_id, citation.message_ids[0], citation.message_ids);
}

/** Shown with a not-found answer: what search came closest to, so the user can judge. */
function NearestTurns({ sources }: { sources: Hit[] }) {
  if (!sources.length) return <p className="notice not-found">Nothing close in the stored conversations.</p>;
  return (
    <div className="notice not-found">
      <p>Nothing close in the stored conversations; the nearest turns are:</p>
      <ul className="nearest">
        {sources.slice(0, 3).map((h) => (
          <li key={`${h.conversation_id}:${h.message_ids[0]}`}>
            <Link to={messageLink(h.conversation_id, h.message_ids[0], h.message_ids)}>
              {h.title || h.conversation_external_id}
            </Link>{" "}
            <q>{h.text.length > 160 ? `${h.text.slice(0, 159)}…` : h.text}</q>
          </li>
        ))}
      </ul>
    </div>
  );
}

function AnswerFooter({ result, asked }: { result: Answer; asked: string }) {
  const rewritten = result.question.trim() !== asked.trim();
  return (
    <>
      {rewritten && <p className="meta">Searched for: “{result.question}”</p>}
      {result.extractive ? (
        <p className="label extractive">
          <strong>Extractive answer</strong> — no language model is configured, so these are the sentences from your
          conversations that best match the question, quoted as written.
        </p>
      ) : (
        <p className="label generated">
          Written by {[result.provider, result.model].filter(Boolean).join(" / ") || "a language model"} from the cited
          messages.
        </p>
      )}
      {result.error && <p className="notice">{result.error}</p>}
      {result.found === false && <NearestTurns sources={result.sources} />}
      {result.citations.length > 0 && (
        <ol className="citations" aria-label="Citations">
          {result.citations.map((c) => (
            <li key={c.n}>
              <Link to={citationLink(c)} className="citation">
                <span className="cite" aria-hidden="true">
                  {c.n}
                </span>
                <span className="citation-body">
                  <span className="citation-title">{c.title || c.conversation_external_id}</span>
                  {c.timestamp && <time dateTime={c.timestamp}>{formatDateTime(c.timestamp)}</time>}
                  <q>{c.quote}</q>
                </span>
              </Link>
            </li>
          ))}
        </ol>
      )}
    </>
  );
}
