// Search: a query and filters (kept in the URL, so results survive Back and can
// be shared), hits as turns with the query's words marked, each turn linking to
// its message in the conversation.

import { type FormEvent, useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { search } from "../api/search";
import type { Hit, SearchResult } from "../api/types";
import {
  FilterFields,
  type FilterValues,
  NO_FILTERS,
  activeFilterCount,
  toFilters,
} from "../components/FilterFields";
import { Empty, ErrorMessage, Loading } from "../components/Status";
import { NothingStored, useStoreEmpty } from "../components/StoreHints";
import { formatDateTime, formatRange, plural } from "../format";
import { Highlighted, countMatches, queryTerms } from "../highlight";
import { messageLink, splitHit } from "../turns";

const FILTER_PARAMS: (keyof FilterValues)[] = ["conversation", "author", "source", "since", "until"];

function filtersFrom(params: URLSearchParams): FilterValues {
  const values = { ...NO_FILTERS };
  for (const name of FILTER_PARAMS) values[name] = params.get(name) ?? "";
  return values;
}

type State =
  | { kind: "idle" }
  | { kind: "loading" }
  | { kind: "done"; result: SearchResult }
  | { kind: "failed"; error: unknown };

export default function SearchScreen() {
  const [params, setParams] = useSearchParams();
  const submittedQuery = params.get("q") ?? "";
  const [query, setQuery] = useState(submittedQuery);
  const [filters, setFilters] = useState<FilterValues>(() => filtersFrom(params));
  const [state, setState] = useState<State>({ kind: "idle" });
  const [attempt, setAttempt] = useState(0);
  const paramKey = params.toString();

  useEffect(() => {
    const current = new URLSearchParams(paramKey);
    const q = current.get("q") ?? "";
    setQuery(q);
    setFilters(filtersFrom(current));
    if (!q.trim()) {
      setState({ kind: "idle" });
      return;
    }
    const controller = new AbortController();
    setState({ kind: "loading" });
    search({ query: q, top_k: 20, ...toFilters(filtersFrom(current)) }, controller.signal).then(
      (result) => setState({ kind: "done", result }),
      (error: unknown) => {
        if (!controller.signal.aborted) setState({ kind: "failed", error });
      },
    );
    return () => controller.abort();
  }, [paramKey, attempt]);

  function submit(event: FormEvent) {
    event.preventDefault();
    if (!query.trim()) return;
    const next = new URLSearchParams({ q: query.trim() });
    for (const name of FILTER_PARAMS) if (filters[name].trim()) next.set(name, filters[name].trim());
    if (next.toString() === paramKey) setAttempt((n) => n + 1);
    else setParams(next);
  }

  const filterCount = activeFilterCount(filters);
  return (
    <section aria-labelledby="search-title">
      <h1 id="search-title">Search</h1>
      <form className="search-form" role="search" onSubmit={submit}>
        <div className="query-row">
          <label htmlFor="search-query" className="visually-hidden">
            Search conversations
          </label>
          <input
            id="search-query"
            type="search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            placeholder="What are you looking for? e.g. when did Kate go skiing"
            autoFocus
          />
          <button type="submit" disabled={!query.trim()}>
            Search
          </button>
        </div>
        <details className="filter-box" open={filterCount > 0}>
          <summary>Filters{filterCount > 0 ? ` (${filterCount})` : ""}</summary>
          <FilterFields values={filters} onChange={setFilters} idPrefix="search" />
        </details>
      </form>
      <SearchResults state={state} query={submittedQuery} onRetry={() => setAttempt((n) => n + 1)} />
    </section>
  );
}

function SearchResults({ state, query, onRetry }: { state: State; query: string; onRetry: () => void }) {
  const empty = useStoreEmpty();
  if (empty && state.kind !== "loading" && state.kind !== "failed") return <NothingStored />;
  switch (state.kind) {
    case "idle":
      return (
        <Empty title="Search your conversations">
          <p>Words, names and dates all work: the search matches both the wording and the meaning of each turn.</p>
        </Empty>
      );
    case "loading":
      return <Loading label="Searching…" />;
    case "failed":
      return <ErrorMessage error={state.error} onRetry={onRetry} />;
    case "done": {
      const { hits, took_ms } = state.result;
      if (!hits.length) {
        return (
          <Empty title={`No matches for “${query}”`}>
            <p>
              Try other words, remove a filter, or <Link to="/import">import more conversations</Link>.
            </p>
          </Empty>
        );
      }
      const terms = queryTerms(query);
      return (
        <>
          <p className="meta" aria-live="polite">
            {plural(hits.length, "hit")} in {Math.round(took_ms)} ms
            {appliedText(state.result.filters) && ` · ${appliedText(state.result.filters)}`}
          </p>
          {hits.every((hit) => hit.match === "weak") && (
            <p className="notice not-found">Nothing close; the nearest turns are:</p>
          )}
          <ol className="hits">
            {hits.map((hit, i) => (
              <HitCard key={`${hit.conversation_id}-${hit.message_ids.join(",")}-${i}`} hit={hit} terms={terms} />
            ))}
          </ol>
        </>
      );
    }
  }
}

/** What the server made of the filters: "by Kate Moreno · from 1 Mar 2024, 00:00". */
function appliedText(applied: SearchResult["filters"]): string {
  if (!applied) return "";
  const parts: string[] = [];
  if (applied.authors?.length) parts.push(`by ${applied.authors.join(" or ")}`);
  if (applied.since) parts.push(`from ${formatDateTime(applied.since)}`);
  if (applied.until) parts.push(`to ${formatDateTime(applied.until)}`);
  return parts.join(" · ");
}

function HitCard({ hit, terms }: { hit: Hit; terms: string[] }) {
  const turns = splitHit(hit);
  // The turn that matches most of the query's words is "the" message of this hit.
  let best = 0;
  turns.forEach((turn, i) => {
    if (countMatches(turn.text, terms) > countMatches(turns[best]?.text ?? "", terms)) best = i;
  });
  const bestTurn = turns[best];
  const title = hit.title || hit.conversation_external_id;
  return (
    <li className="card hit">
      <header className="hit-head">
        <h2>
          <Link to={messageLink(hit.conversation_id, bestTurn?.messageId ?? hit.message_ids[0], hit.message_ids)}>
            {title}
          </Link>
        </h2>
        <p className="meta">
          {hit.source && <span className="tag">{hit.source}</span>}
          <span>{formatRange(hit.started_at, hit.ended_at)}</span>
          <span>{hit.authors.join(", ")}</span>
        </p>
      </header>
      <ul className="turns">
        {turns.map((turn, i) => (
          <li key={i} className={i === best ? "turn best" : "turn"}>
            <p className="turn-head">
              <span className="speaker">{turn.speaker ?? "—"}</span>
              {turn.time && <time dateTime={turn.time}>{formatDateTime(turn.time)}</time>}
              {turn.timeText && <span>{turn.timeText}</span>}
              {turn.messageId && (
                <Link
                  className="open-message"
                  to={messageLink(hit.conversation_id, turn.messageId, hit.message_ids)}
                  aria-label={`Open message from ${turn.speaker ?? "unknown"} in “${title}”`}
                >
                  Open →
                </Link>
              )}
            </p>
            <p className="turn-text">
              <Highlighted text={turn.text} terms={terms} />
            </p>
          </li>
        ))}
      </ul>
    </li>
  );
}
