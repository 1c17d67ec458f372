// Conversations: the newest first, filtered by title/id and source, paged by
// the server's cursor (a stack of cursors makes "Previous" work).

import { type FormEvent, useEffect, useState } from "react";
import { Link, useLocation, useSearchParams } from "react-router";
import { listConversations } from "../api/conversations";
import type { ConversationPage } from "../api/types";
import { Empty, ErrorMessage, Loading } from "../components/Status";
import { formatDateTime, formatRange, plural } from "../format";

export const PAGE_SIZE = 20;

type State = { kind: "loading" } | { kind: "done"; page: ConversationPage } | { kind: "failed"; error: unknown };

export default function ConversationsScreen() {
  const [params, setParams] = useSearchParams();
  const location = useLocation();
  const notice = (location.state as { notice?: string } | null)?.notice;
  const q = params.get("q") ?? "";
  const source = params.get("source") ?? "";
  const [draft, setDraft] = useState({ q, source });

  useEffect(() => setDraft({ q, source }), [q, source]);

  function submit(event: FormEvent) {
    event.preventDefault();
    const next = new URLSearchParams();
    if (draft.q.trim()) next.set("q", draft.q.trim());
    if (draft.source.trim()) next.set("source", draft.source.trim());
    setParams(next);
  }

  return (
    <section aria-labelledby="conversations-title">
      <h1 id="conversations-title">Conversations</h1>
      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      <form className="list-filters" onSubmit={submit} role="search">
        <div className="field grow">
          <label htmlFor="conversations-q">Title or id</label>
          <input
            id="conversations-q"
            type="search"
            value={draft.q}
            onChange={(e) => setDraft({ ...draft, q: e.target.value })}
            placeholder="e.g. refund"
          />
        </div>
        <div className="field">
          <label htmlFor="conversations-source">Source</label>
          <input
            id="conversations-source"
            value={draft.source}
            onChange={(e) => setDraft({ ...draft, source: e.target.value })}
            placeholder="e.g. slack"
          />
        </div>
        <button type="submit">Filter</button>
      </form>
      {/* A new filter starts again at page 1: the key gives the pages fresh state. */}
      <ConversationPages key={`${q}\u0000${source}`} q={q} source={source} />
    </section>
  );
}

function ConversationPages({ q, source }: { q: string; source: string }) {
  // cursors[i] is the cursor that loads page i + 1 (page 1 needs none).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [state, setState] = useState<State>({ kind: "loading" });
  const [attempt, setAttempt] = useState(0);
  const pageIndex = cursors.length - 1;
  const cursor = cursors[pageIndex] ?? null;

  useEffect(() => {
    const controller = new AbortController();
    setState({ kind: "loading" });
    listConversations({ limit: PAGE_SIZE, cursor, q, source }, controller.signal).then(
      (page) => setState({ kind: "done", page }),
      (error: unknown) => {
        if (!controller.signal.aborted) setState({ kind: "failed", error });
      },
    );
    return () => controller.abort();
  }, [q, source, cursor, attempt]);

  const filtered = Boolean(q || source);
  return (
    <>
      {state.kind === "loading" && <Loading label="Loading conversations…" />}
      {state.kind === "failed" && <ErrorMessage error={state.error} onRetry={() => setAttempt((n) => n + 1)} />}
      {state.kind === "done" && !state.page.items.length && (
        <Empty title={filtered ? "No conversation matches these filters" : "No conversations yet"}>
          {filtered ? (
            <p>
              <Link to="/conversations">Show all conversations</Link>
            </p>
          ) : (
            <p>
              <Link to="/import">Import a file</Link> or send conversations through the API, the CLI or an MCP
              client.
            </p>
          )}
        </Empty>
      )}
      {state.kind === "done" && state.page.items.length > 0 && (
        <>
          <p className="meta" aria-live="polite">
            Page {pageIndex + 1} · {plural(state.page.items.length, "conversation")} ·{" "}
            {plural(
              state.page.items.reduce((sum, c) => sum + c.message_count, 0),
              "message",
            )}
          </p>
          <ul className="conversation-list">
            {state.page.items.map((c) => (
              <li key={c.id} className="card conversation-row">
                <h2>
                  <Link to={`/conversations/${encodeURIComponent(c.id)}`}>{c.title || c.external_id}</Link>
                </h2>
                <p className="meta">
                  {c.source && <span className="tag">{c.source}</span>}
                  <span className="count">{plural(c.message_count, "message")}</span>
                  {c.started_at && <span>{formatRange(c.started_at, c.ended_at)}</span>}
                  {c.participants.length > 0 && <span>{c.participants.join(", ")}</span>}
                </p>
                <p className="meta subtle">
                  <span className="mono">{c.external_id}</span>
                  <span>added {formatDateTime(c.created_at)}</span>
                </p>
              </li>
            ))}
          </ul>
          <nav className="pager" aria-label="Pages">
            <button
              type="button"
              className="secondary"
              disabled={pageIndex === 0}
              onClick={() => setCursors(cursors.slice(0, -1))}
            >
              ← Previous
            </button>
            <button
              type="button"
              className="secondary"
              disabled={!state.page.next_cursor}
              onClick={() => setCursors([...cursors, state.page.next_cursor])}
            >
              Next →
            </button>
          </nav>
        </>
      )}
    </>
  );
}
