// Settings: the API token this browser sends, and what the server says about itself.

import { type FormEvent, useCallback, useEffect, useState } from "react";
import { listConversations } from "../api/conversations";
import { type Readiness, getReadiness, getVersion } from "../api/server";
import { clearToken, getToken, saveToken } from "../api/token";
import type { VersionInfo } from "../api/types";
import { ErrorMessage, Loading } from "../components/Status";
import { describeProvider } from "../components/StoreHints";

export default function SettingsScreen() {
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <TokenSettings />
      <ServerStatus />
    </section>
  );
}

type Check = { kind: "idle" } | { kind: "checking" } | { kind: "ok" } | { kind: "failed"; error: unknown };

function TokenSettings() {
  const [saved, setSaved] = useState(() => getToken() ?? "");
  const [draft, setDraft] = useState(saved);
  const [visible, setVisible] = useState(false);
  const [check, setCheck] = useState<Check>({ kind: "idle" });

  async function verify() {
    setCheck({ kind: "checking" });
    try {
      await listConversations({ limit: 1 });
      setCheck({ kind: "ok" });
    } catch (error) {
      setCheck({ kind: "failed", error });
    }
  }

  function save(event: FormEvent) {
    event.preventDefault();
    if (draft.trim()) saveToken(draft);
    else clearToken();
    setSaved(draft.trim());
    void verify();
  }

  function forget() {
    clearToken();
    setSaved("");
    setDraft("");
    setCheck({ kind: "idle" });
  }

  return (
    <form className="card settings-block" onSubmit={save} aria-labelledby="token-title">
      <h2 id="token-title">API token</h2>
      <p className="hint">
        Needed when the server has API tokens (create one with <code>mcp-rag tokens create</code>). It is kept in
        this browser only and sent as <code>Authorization: Bearer …</code> with every request.
      </p>
      <div className="field">
        <label htmlFor="api-token">Token</label>
        <div className="query-row">
          <input
            id="api-token"
            type={visible ? "text" : "password"}
            autoComplete="off"
            spellCheck={false}
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            placeholder="mrag_…"
          />
          <button type="button" className="secondary" onClick={() => setVisible(!visible)} aria-pressed={visible}>
            {visible ? "Hide" : "Show"}
          </button>
        </div>
      </div>
      <div className="actions">
        <button type="submit">Save</button>
        <button type="button" className="secondary" onClick={() => void verify()}>
          Test connection
        </button>
        {saved && (
          <button type="button" className="secondary" onClick={forget}>
            Forget token
          </button>
        )}
      </div>
      <p className="meta" aria-live="polite">
        {saved ? "A token is saved in this browser." : "No token saved: requests go without one."}
      </p>
      {check.kind === "checking" && <Loading label="Checking…" />}
      {check.kind === "ok" && (
        <p className="ok" role="status">
          ✓ The server accepts {saved ? "this token" : "requests without a token"}.
        </p>
      )}
      {check.kind === "failed" && <ErrorMessage error={check.error} />}
    </form>
  );
}

type Status =
  | { kind: "loading" }
  | { kind: "done"; version: VersionInfo; readiness: Readiness }
  | { kind: "failed"; error: unknown };

function ServerStatus() {
  const [status, setStatus] = useState<Status>({ kind: "loading" });

  const load = useCallback(async () => {
    setStatus({ kind: "loading" });
    try {
      const [version, readiness] = await Promise.all([getVersion(), getReadiness()]);
      setStatus({ kind: "done", version, readiness });
    } catch (error) {
      setStatus({ kind: "failed", error });
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <div className="card settings-block" aria-labelledby="server-title">
      <div className="title-row">
        <h2 id="server-title">Server</h2>
        <button type="button" className="secondary" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      {status.kind === "loading" && <Loading label="Asking the server…" />}
      {status.kind === "failed" && <ErrorMessage error={status.error} />}
      {status.kind === "done" && (
        <dl className="facts">
          <dt>Address</dt>
          <dd className="mono">{window.location.origin}</dd>
          <dt>Version</dt>
          <dd>
            {status.version.version}
            {status.version.git_commit && <span className="mono subtle"> ({status.version.git_commit})</span>}
          </dd>
          <dt>Embedding model</dt>
          <dd>{status.version.embedding_model ?? "unknown"}</dd>
          <dt>Answers</dt>
          <dd data-testid="settings-answer-provider">
            {status.version.answer_provider
              ? describeProvider({
                  provider: status.version.answer_provider,
                  model: status.version.answer_model ?? null,
                })
              : "unknown"}
          </dd>
          <dt>Database</dt>
          <dd>
            {status.readiness.ready ? (
              <span className="ok">● Ready</span>
            ) : (
              <span className="bad">● Unavailable: {status.readiness.detail}</span>
            )}
          </dd>
          <dt>Schema revision</dt>
          <dd className="mono">{status.version.schema_revision ?? "unknown"}</dd>
        </dl>
      )}
    </div>
  );
}
