// Import: drop exports (or choose them), watch each one upload, and see what
// the server made of it: the format it found, what was stored, and which
// records were refused and why.

import { type DragEvent, useRef, useState } from "react";
import { Link } from "react-router";
import { FORMATS, type ImportProgress, type UploadProgress, uploadFile } from "../api/importing";
import type { FileImport as ImportReport } from "../api/types";
import { ErrorMessage } from "../components/Status";
import { formatBytes, plural } from "../format";

interface FileImport {
  key: string;
  name: string;
  size: number;
  status: "queued" | "uploading" | "importing" | "done" | "failed";
  progress: UploadProgress;
  /** The server's count while it imports (streamed). */
  stored: ImportProgress | null;
  report: ImportReport | null;
  error: unknown;
}

let keys = 0;

/** Something from the file is stored now: new, extended, or there already. */
const storedAnything = (report: ImportReport) => report.conversations > 0 || report.skipped > 0;

export default function ImportScreen() {
  const [imports, setImports] = useState<FileImport[]>([]);
  const [dragging, setDragging] = useState(false);
  const [format, setFormat] = useState("");
  const queue = useRef<Promise<void>>(Promise.resolve());

  const update = (key: string, change: Partial<FileImport>) =>
    setImports((list) => list.map((f) => (f.key === key ? { ...f, ...change } : f)));

  function add(files: FileList | File[]) {
    const added = Array.from(files).map((file) => ({ file, key: `f${++keys}` }));
    if (!added.length) return;
    setImports((list) => [
      ...added.map(({ file, key }) => ({
        key,
        name: file.name,
        size: file.size,
        status: "queued" as const,
        progress: { loaded: 0, total: file.size },
        stored: null,
        report: null,
        error: null,
      })),
      ...list,
    ]);
    // One file at a time, in the order given: the server parses, stores and embeds each one.
    const forced = format;
    for (const { file, key } of added) {
      queue.current = queue.current.then(async () => {
        update(key, { status: "uploading" });
        try {
          const report = await uploadFile(
            file,
            {
              // Every byte sent: what is left is the server's work.
              onUpload: (progress) =>
                update(key, { progress, status: progress.loaded >= progress.total ? "importing" : "uploading" }),
              onImport: (stored) => update(key, { stored, status: "importing" }),
            },
            forced,
          );
          const failed = !storedAnything(report) && report.errors.length > 0;
          update(key, { status: failed ? "failed" : "done", report });
        } catch (error) {
          update(key, { status: "failed", error });
        }
      });
    }
  }

  function onDrop(event: DragEvent) {
    event.preventDefault();
    setDragging(false);
    add(event.dataTransfer.files);
  }

  return (
    <section aria-labelledby="import-title">
      <h1 id="import-title">Import</h1>
      <div
        className={dragging ? "dropzone dragging" : "dropzone"}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <p className="dropzone-title">Drop exports or conversation files here</p>
        <p className="hint">
          A Slack export zip, ChatGPT or Claude <code>conversations.json</code>, a WhatsApp chat, a Markdown or
          plain-text transcript, or mcp-rag JSON / JSON Lines. The server recognises each file by its content.
          Importing a file again adds only what is new.
        </p>
        <div className="import-options">
          <label htmlFor="import-format">Format</label>
          <select id="import-format" value={format} onChange={(e) => setFormat(e.target.value)}>
            {FORMATS.map((code) => (
              <option key={code} value={code}>
                {code ? FORMAT_NAMES[code] : "Detect from the content"}
              </option>
            ))}
          </select>
        </div>
        <label className="button">
          Choose files…
          <input
            className="visually-hidden"
            type="file"
            multiple
            onChange={(e) => {
              if (e.target.files) add(e.target.files);
              e.target.value = "";
            }}
          />
        </label>
      </div>
      {imports.length > 0 && (
        <ul className="imports" aria-label="Imported files">
          {imports.map((f) => (
            <ImportRow key={f.key} file={f} />
          ))}
        </ul>
      )}
      {imports.some((f) => f.report && storedAnything(f.report)) && (
        <p>
          <Link to="/conversations">See the conversations</Link> or <Link to="/">search them</Link>.
        </p>
      )}
    </section>
  );
}

function ImportRow({ file }: { file: FileImport }) {
  const { name, size, status, progress, report, error } = file;
  return (
    <li className={`card import ${status}`} aria-label={name}>
      <p className="import-head">
        <span className="file-name">{name}</span>
        <span className="meta">{formatBytes(size)}</span>
        <span className={`badge ${status}`}>{STATUS_LABEL[status]}</span>
      </p>
      {status === "uploading" && (
        <>
          <progress max={progress.total || 1} value={progress.loaded} aria-label={`Uploading ${name}`} />
          <p className="meta" role="status">
            Uploading {formatBytes(progress.loaded)} of {formatBytes(progress.total)}
          </p>
        </>
      )}
      {status === "importing" && (
        <>
          {file.stored && file.stored.bytes_total > 0 ? (
            <progress
              max={file.stored.bytes_total}
              value={file.stored.bytes_done}
              aria-label={`Importing ${name}`}
            />
          ) : (
            <progress aria-label={`Importing ${name}`} />
          )}
          <p className="meta" role="status">
            {file.stored
              ? `Importing: ${plural(file.stored.conversations, "conversation")}, ${plural(file.stored.messages, "message")} stored (${file.stored.messages_per_second.toLocaleString()} messages/s, ${Math.round(file.stored.seconds)} s)`
              : "Uploaded; the server is importing it…"}
          </p>
        </>
      )}
      {report && <ImportFacts report={report} />}
      {report && report.errors.length > 0 && <ImportErrors report={report} />}
      {report && report.format === "unknown" && (
        <p className="hint">Not recognised? Choose its format under “Format” above and add the file again.</p>
      )}
      {error !== null && <ErrorMessage error={error} />}
    </li>
  );
}

function ImportFacts({ report }: { report: ImportReport }) {
  return (
    <dl className="import-facts">
      <div>
        <dt>Format</dt>
        <dd>{formatName(report.format)}</dd>
      </div>
      <div>
        <dt>Conversations</dt>
        <dd>{report.conversations.toLocaleString()}</dd>
      </div>
      <div>
        <dt>Messages added</dt>
        <dd>{report.messages_added.toLocaleString()}</dd>
      </div>
      <div>
        <dt>Skipped (already stored)</dt>
        <dd>{report.skipped.toLocaleString()}</dd>
      </div>
      <div>
        <dt>Errors</dt>
        <dd>{report.errors.length.toLocaleString()}</dd>
      </div>
    </dl>
  );
}

/** A big export can refuse thousands of records: the first few, and the rest on request. */
const ERRORS_SHOWN = 10;

function ImportErrors({ report }: { report: ImportReport }) {
  const [all, setAll] = useState(false);
  const shown = all ? report.errors : report.errors.slice(0, ERRORS_SHOWN);
  return (
    <>
      <ul className="import-errors" aria-label={`Errors in ${report.name}`}>
        {shown.map((e, i) => (
          <li key={i}>
            <strong>{e.location}:</strong> {e.message}
          </li>
        ))}
      </ul>
      {shown.length < report.errors.length && (
        <button type="button" className="secondary" onClick={() => setAll(true)}>
          Show all {plural(report.errors.length, "error")}
        </button>
      )}
    </>
  );
}

// The server's format codes, as a person calls those files.
const FORMAT_NAMES: Record<string, string> = {
  slack: "Slack export",
  chatgpt: "ChatGPT export",
  claude: "Claude export",
  whatsapp: "WhatsApp chat",
  markdown: "Markdown chat",
  transcript: "Plain transcript",
  json: "mcp-rag JSON",
  openai: "OpenAI messages",
  unknown: "Not recognised",
};

function formatName(format: string): string {
  return format
    .split(",")
    .map((code) => FORMAT_NAMES[code.trim()] ?? code.trim())
    .join(", ");
}

const STATUS_LABEL: Record<FileImport["status"], string> = {
  queued: "Waiting",
  uploading: "Uploading",
  importing: "Importing",
  done: "Done",
  failed: "Failed",
};
