// One conversation as a transcript. Every message has an anchor (#m-<message id>);
// a link to a message loads pages until that message is there, scrolls to it and
// marks it (plus any other messages named in ?highlight=).

import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useLocation, useNavigate, useParams, useSearchParams } from "react-router";
import { deleteConversation, getTranscript } from "../api/conversations";
import type { Message, Transcript } from "../api/types";
import { ErrorMessage, Loading } from "../components/Status";
import { formatDateTime, formatRange, plural } from "../format";

export const TRANSCRIPT_PAGE = 200;

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
  | { kind: "done"; conversation: Transcript; messages: Message[] }
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
    getTranscript(id, 0, TRANSCRIPT_PAGE, controller.signal).then(
      (conversation) => setState({ kind: "done", conversation, messages: conversation.messages }),
      (error: unknown) => {
        if (!controller.signal.aborted) setState({ kind: "failed", error });
      },
    );
    return () => controller.abort();
  }, [id, attempt]);

  const loaded = state.kind === "done" ? state.messages.length : 0;
  const total = state.kind === "done" ? state.conversation.message_count : 0;

  const loadMore = useCallback(async () => {
    if (state.kind !== "done") return;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const page = await getTranscript(id, state.messages.length, TRANSCRIPT_PAGE);
      setState({ ...state, messages: [...state.messages, ...page.messages] });
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
    }
  }, [state, target, loaded, total, loadingMore, moreError, loadMore]);

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
  const missingTarget = target !== null && loaded >= total && !messages.some((m) => m.id === target);
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
      <ol className="messages">
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
