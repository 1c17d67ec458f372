// One conversation as a transcript. Every message has an anchor (#m-<message id>);
// a link to a message loads the page around it (the API's `around`, as MCP clients
// read a hit's context), scrolls to it and marks it (plus any other messages named
// in ?highlight=); earlier and later messages load on request.

import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useLocation, useNavigate, useParams, useSearchParams } from "react-router";
import { deleteConversation, getTranscript } from "../api/conversations";
import type { Message, Transcript } from "../api/types";
import { ErrorMessage, Loading } from "../components/Status";
import { formatDateTime, formatRange, plural } from "../format";

export const TRANSCRIPT_PAGE = 200;
/** Messages either side of a linked message in the first page. */
export const AROUND = 50;

export function anchorFor(messageId: string): string {
  return `m-${messageId}`;
}

function targetFrom(hash: string): string | null {
  if (!hash.startsWith("#m-")) return null;
  try {
    return decodeURIComponent(hash.slice(3));
  } catch {
    return hash.slice(3);
  }
}

type State =
  | { kind: "loading" }
  /** `first`: how many messages come before the loaded ones. */
  | { kind: "done"; conversation: Transcript; messages: Message[]; first: number }
  | { kind: "failed"; error: unknown };

export default function ConversationScreen() {
  const { id = "" } = useParams();
  const { hash } = useLocation();
  const [params] = useSearchParams();
  const target = targetFrom(hash);
  // The other messages of the hit or citation that linked here, shown more quietly than the target.
  const related = new Set(params.get("highlight")?.split(",") ?? []);
  const [state, setState] = useState<State>({ kind: "loading" });
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<unknown>(null);
  const [attempt, setAttempt] = useState(0);
  const scrolledTo = useRef<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    setState({ kind: "loading" });
    scrolledTo.current = null;
    const whole = () => getTranscript(id, { offset: 0, limit: TRANSCRIPT_PAGE }, controller.signal);
    // A message that is gone (deleted, re-imported) falls back to the start of the conversation.
    const first = target
      ? getTranscript(id, { around: target, before: AROUND, after: AROUND }, controller.signal).catch(whole)
      : whole();
    first.then(
      (conversation) =>
        setState({ kind: "done", conversation, messages: conversation.messages, first: conversation.offset }),
      (error: unknown) => {
        if (!controller.signal.aborted) setState({ kind: "failed", error });
      },
    );
    return () => controller.abort();
    // The target only chooses the first page: following a link within the page needs no reload.
  }, [id, attempt]);

  const loaded = state.kind === "done" ? state.first + state.messages.length : 0;
  const earlier = state.kind === "done" ? state.first : 0;
  const total = state.kind === "done" ? state.conversation.message_count : 0;

  const loadMore = useCallback(async () => {
    if (state.kind !== "done") return;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const page = await getTranscript(id, { offset: state.first + state.messages.length, limit: TRANSCRIPT_PAGE });
      setState({ ...state, messages: [...state.messages, ...page.messages] });
    } catch (error) {
      setMoreError(error);
    } finally {
      setLoadingMore(false);
    }
  }, [id, state]);

  const loadEarlier = useCallback(async () => {
    if (state.kind !== "done" || state.first === 0) return;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const offset = Math.max(0, state.first - TRANSCRIPT_PAGE);
      const page = await getTranscript(id, { offset, limit: state.first - offset });
      setState({ ...state, messages: [...page.messages, ...state.messages], first: offset });
    } catch (error) {
      setMoreError(error);
    } finally {
      setLoadingMore(false);
    }
  }, [id, state]);

  // Bring the linked message into view, loading further pages until it is there.
  useEffect(() => {
    if (state.kind !== "done" || !target || scrolledTo.current === target) return;
    const element = document.getElementById(anchorFor(target));
    if (element) {
      scrolledTo.current = target;
      element.scrollIntoView?.({ block: "center" });
      element.focus({ preventScroll: true });
    } else if (loaded < total && !loadingMore && !moreError) {
      void loadMore();
    } else if (earlier > 0 && !loadingMore && !moreError) {
      void loadEarlier();
    }
  }, [state, target, loaded, earlier, total, loadingMore, moreError, loadMore, loadEarlier]);

  if (state.kind === "loading") return <Loading label="Loading conversation…" />;
  if (state.kind === "failed") {
    return (
      <section>
        <p>
          <Link to="/conversations">← All conversations</Link>
        </p>
        <ErrorMessage error={state.error} onRetry={() => setAttempt((n) => n + 1)} />
      </section>
    );
  }
  const { conversation, messages } = state;
  const missingTarget =
    target !== null && loaded >= total && earlier === 0 && !messages.some((m) => m.id === target);
  return (
    <article className="transcript" aria-labelledby="conversation-title">
      <p>
        <Link to="/conversations">← All conversations</Link>
      </p>
      <header className="transcript-head">
        <h1 id="conversation-title">{conversation.title || conversation.external_id}</h1>
        <p className="meta">
          {conversation.source && <span className="tag">{conversation.source}</span>}
          <span>{plural(conversation.message_count, "message")}</span>
          {conversation.started_at && <span>{formatRange(conversation.started_at, conversation.ended_at)}</span>}
          {conversation.participants.length > 0 && <span>{conversation.participants.join(", ")}</span>}
        </p>
        <p className="meta subtle">
          <span className="mono">{conversation.external_id}</span>
          {conversation.url && (
            <a href={conversation.url} target="_blank" rel="noreferrer noopener">
              original
            </a>
          )}
        </p>
        <DeleteConversation conversation={conversation} />
      </header>
      {missingTarget && (
        <p className="notice" role="status">
          Message “{target}” is not in this conversation any more.
        </p>
      )}
      {earlier > 0 &&
        (loadingMore ? (
          <Loading label="Loading earlier messages…" />
        ) : (
          <button type="button" className="secondary" onClick={() => void loadEarlier()}>
            Show earlier ({plural(earlier, "message")} before)
          </button>
        ))}
      <ol className="messages" start={earlier + 1}>
        {messages.map((message) => (
          <MessageItem
            key={message.seq}
            message={message}
            mark={message.id === target ? "target" : related.has(message.id) ? "related" : null}
          />
        ))}
      </ol>
      {moreError !== null && <ErrorMessage error={moreError} onRetry={() => void loadMore()} />}
      {loaded < total &&
        (loadingMore ? (
          <Loading label="Loading more messages…" />
        ) : (
          <button type="button" className="secondary" onClick={() => void loadMore()}>
            Show more ({plural(total - loaded, "message")} left)
          </button>
        ))}
    </article>
  );
}

function MessageItem({ message, mark }: { message: Message; mark: "target" | "related" | null }) {
  const anchor = anchorFor(message.id);
  return (
    <li id={anchor} tabIndex={-1} className={mark ? `message ${mark}` : "message"} data-role={message.role ?? ""}>
      <p className="message-head">
        <span className="speaker">{message.author || message.role || "unknown"}</span>
        {message.role && message.author && <span className="role">{message.role}</span>}
        {message.timestamp && <time dateTime={message.timestamp}>{formatDateTime(message.timestamp)}</time>}
        {mark === "target" && <span className="linked">Linked message</span>}
        <Link className="permalink" to={{ hash: anchorFor(encodeURIComponent(message.id)) }} aria-label="Link to this message">
          #
        </Link>
      </p>
      <p className="message-text">{message.content}</p>
    </li>
  );
}

function DeleteConversation({ conversation }: { conversation: Transcript }) {
  const navigate = useNavigate();
  const [confirming, setConfirming] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const openRef = useRef<HTMLButtonElement>(null);
  const title = conversation.title || conversation.external_id;

  useEffect(() => {
    if (confirming) cancelRef.current?.focus();
  }, [confirming]);

  async function remove() {
    setDeleting(true);
    setError(null);
    try {
      await deleteConversation(conversation.id);
      navigate("/conversations", { state: { notice: `Deleted “${title}”.` } });
    } catch (err) {
      setError(err);
      setDeleting(false);
    }
  }

  function cancel() {
    setConfirming(false);
    setError(null);
    requestAnimationFrame(() => openRef.current?.focus());
  }

  if (!confirming) {
    return (
      <button ref={openRef} type="button" className="danger" onClick={() => setConfirming(true)}>
        Delete conversation…
      </button>
    );
  }
  return (
    <div
      className="confirm"
      role="alertdialog"
      aria-labelledby="confirm-delete-title"
      onKeyDown={(e) => e.key === "Escape" && cancel()}
    >
      <p id="confirm-delete-title">
        Delete “{title}” and its {plural(conversation.message_count, "message")}? This cannot be undone.
      </p>
      {error !== null && <ErrorMessage error={error} />}
      <div className="actions">
        <button type="button" className="danger" onClick={() => void remove()} disabled={deleting}>
          {deleting ? "Deleting…" : "Delete"}
        </button>
        <button ref={cancelRef} type="button" className="secondary" onClick={cancel} disabled={deleting}>
          Cancel
        </button>
      </div>
    </div>
  );
}
