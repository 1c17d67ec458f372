// Loading, empty and error states, the same on every screen.

import type { ReactNode } from "react";
import { Link } from "react-router";
import { ApiError } from "../api/client";

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="status loading" role="status">
      <span className="spinner" aria-hidden="true" />
      {label}
    </p>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="status empty">
      <p className="empty-title">{title}</p>
      {children}
    </div>
  );
}

export function ErrorMessage({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const detail = error instanceof Error ? error.message : String(error);
  const auth = error instanceof ApiError && error.isAuth;
  return (
    <div className="status error" role="alert">
      <p>
        <strong>{error instanceof ApiError ? error.title : "Something went wrong"}:</strong> {detail}
      </p>
      {auth && (
        <p>
          <Link to="/settings">Set an API token in Settings</Link> and try again.
        </p>
      )}
      {onRetry && (
        <button type="button" className="secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
