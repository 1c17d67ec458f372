// A stand-in for the mcp-rag server at the fetch() and XMLHttpRequest
// boundaries, for component tests: routes by "METHOD /path", records every
// request the UI made.

import { vi } from "vitest";

export interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: unknown;
}

type Handler = (call: Call) => Response | Promise<Response>;

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

export function problem(status: number, detail: string, title = "Error"): Response {
  return new Response(JSON.stringify({ type: "about:blank", title, status, detail }), {
    status,
    headers: { "Content-Type": "application/problem+json" },
  });
}

/** A text/event-stream body; `gate` holds the stream open after the first event until it resolves. */
export function eventStream(events: { event: string; data: unknown }[], gate?: Promise<void>): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      for (const [i, { event, data }] of events.entries()) {
        const text = `event: ${event}\r\ndata: ${JSON.stringify(data)}\r\n\r\n`;
        // Split each event over two reads, as a network would.
        controller.enqueue(encoder.encode(text.slice(0, 7)));
        controller.enqueue(encoder.encode(text.slice(7)));
        if (i === 0 && gate) await gate;
      }
      controller.close();
    },
  });
  return new Response(body, { headers: { "Content-Type": "text/event-stream; charset=utf-8" } });
}

export interface FakeServerOptions {
  /** XMLHttpRequest uploads stop halfway until this resolves (to see the progress shown). */
  uploadGate?: Promise<void>;
}

export function fakeServer(routes: Record<string, Handler>, options: FakeServerOptions = {}) {
  const calls: Call[] = [];
  const handle = (call: Call): Response | Promise<Response> => {
    calls.push(call);
    const handler =
      routes[`${call.method} ${call.path}`] ??
      Object.entries(routes).find(([key]) => {
        const [m, pattern] = key.split(" ");
        return m === call.method && pattern?.endsWith("*") && call.path.startsWith(pattern.slice(0, -1));
      })?.[1];
    if (!handler) return problem(404, `no fake route for ${call.method} ${call.path}`, "Not Found");
    return handler(call);
  };
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), "http://ui.test");
    const rawBody = init.body;
    let body: unknown = rawBody;
    if (typeof rawBody === "string") {
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = rawBody;
      }
    }
    const method = (init.method ?? "GET").toUpperCase();
    return handle({ method, path: url.pathname, query: url.searchParams, headers: new Headers(init.headers), body });
  });
  vi.stubGlobal("fetch", fetchMock);
  vi.stubGlobal("XMLHttpRequest", fakeXMLHttpRequest(handle, options));
  return { calls, of: (method: string, path: string) => calls.filter((c) => c.method === method && c.path === path) };
}

/** A progress event as the browser makes it (jsdom has no ProgressEvent constructor we can rely on). */
function progressEvent(type: string, loaded: number, total: number): Event {
  return Object.assign(new Event(type), { loaded, total, lengthComputable: true });
}

/**
 * An XMLHttpRequest that answers from the fake routes: the body (FormData) is
 * the call's body; upload progress comes at half and at all of the body's size.
 */
function fakeXMLHttpRequest(handle: (call: Call) => Response | Promise<Response>, options: FakeServerOptions) {
  return class FakeXMLHttpRequest extends EventTarget {
    readonly upload = new EventTarget();
    status = 0;
    statusText = "";
    responseText = "";
    private method = "GET";
    private url = "";
    private readonly headers = new Headers();

    open(method: string, url: string): void {
      this.method = method.toUpperCase();
      this.url = url;
    }

    setRequestHeader(name: string, value: string): void {
      this.headers.set(name, value);
    }

    abort(): void {
      this.dispatchEvent(new Event("abort"));
    }

    send(body: Document | XMLHttpRequestBodyInit | null = null): void {
      const url = new URL(this.url, "http://ui.test");
      const call: Call = { method: this.method, path: url.pathname, query: url.searchParams, headers: this.headers, body };
      const size =
        body instanceof FormData
          ? [...body.values()].reduce((sum, value) => sum + (typeof value === "string" ? value.length : value.size), 0)
          : 0;
      void (async () => {
        await Promise.resolve();
        this.upload.dispatchEvent(progressEvent("progress", Math.floor(size / 2), size));
        await options.uploadGate;
        this.upload.dispatchEvent(progressEvent("progress", size, size));
        this.upload.dispatchEvent(progressEvent("load", size, size));
        let response: Response;
        try {
          response = await handle(call);
        } catch {
          this.dispatchEvent(new Event("error"));
          return;
        }
        this.status = response.status;
        this.statusText = response.statusText;
        this.responseText = await response.text();
        this.dispatchEvent(new Event("load"));
        this.dispatchEvent(new Event("loadend"));
      })();
    }
  };
}
