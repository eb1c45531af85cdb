/**
 * A small webhook receiver for the governor's alerts (GOV_ALERT_WEBHOOK_URL):
 * `npm start` runs it when no URL is set and prints each alert in the
 * terminal; the tests use it as the real HTTP endpoint the governor delivers
 * to, with a control API:
 *
 *   POST <any path>       an alert: recorded, answered 204 (or the fault's status)
 *   GET /__alerts         { alerts: [{ at, path, content_type, body, raw }], rejected }
 *                         (rejected: alerts answered with the fault's status)
 *   DELETE /__alerts      forget them, and the fault
 *   PUT /__fault          { status, times? }: the next `times` alerts (default all) get `status`
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { listen } from "./listen.ts";

export interface ReceivedAlert {
  /** unix ms */
  at: number;
  path: string;
  content_type: string;
  /** The body parsed as JSON (null when it is not JSON). */
  body: unknown;
  raw: string;
}

export interface AlertReceiverHandle {
  url: string;
  received: ReceivedAlert[];
  stop(): Promise<void>;
}

export interface AlertReceiverOptions {
  port?: number;
  host?: string;
  /** Called with each alert received (e.g. to print it). */
  onAlert?: (alert: ReceivedAlert) => void;
}

/** The line a person reads for an alert in any of the three formats. */
export function alertLine(body: unknown): string {
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    if (typeof b.text === "string") return b.text;
    if (typeof b.content === "string") return b.content;
    if (typeof b.summary === "string") {
      const head =
        b.status === "resolved"
          ? "RESOLVED"
          : typeof b.severity === "string"
            ? b.severity.toUpperCase()
            : "";
      return `[governor] ${head} ${String(b.kind)}: ${b.summary}`;
    }
  }
  return JSON.stringify(body);
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > 1024 * 1024) request.destroy(new Error("body over 1 MiB"));
      else chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

export async function startAlertReceiver(
  options: AlertReceiverOptions = {},
): Promise<AlertReceiverHandle> {
  const received: ReceivedAlert[] = [];
  let rejected = 0;
  let fault: { status: number; times: number } | null = null;

  const answer = (response: ServerResponse, status: number, body?: unknown) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(body === undefined ? undefined : JSON.stringify(body));
  };

  const server = createServer((request, response) => {
    void (async () => {
      const path = (request.url ?? "/").split("?")[0]!;
      const raw = await readBody(request);
      if (path === "/__alerts" && request.method === "GET")
        return answer(response, 200, { alerts: received, rejected });
      if (path === "/__alerts" && request.method === "DELETE") {
        received.length = 0;
        rejected = 0;
        fault = null;
        return answer(response, 200, { ok: true });
      }
      if (path === "/__fault" && request.method === "PUT") {
        const spec = JSON.parse(raw || "{}") as { status?: number; times?: number };
        fault = spec.status ? { status: spec.status, times: spec.times ?? Infinity } : null;
        return answer(response, 200, { ok: true });
      }
      if (request.method !== "POST") return answer(response, 405, { error: "POST an alert" });
      let body: unknown = null;
      try {
        body = JSON.parse(raw);
      } catch {
        // kept raw
      }
      if (fault && fault.times > 0) {
        fault.times -= 1;
        rejected += 1;
        return answer(response, fault.status, { error: "fault injected" });
      }
      const alert = {
        at: Date.now(),
        path,
        content_type: request.headers["content-type"] ?? "",
        body,
        raw,
      };
      received.push(alert);
      options.onAlert?.(alert);
      response.writeHead(204);
      response.end();
    })().catch(() => {
      if (!response.headersSent) answer(response, 500, { error: "receiver error" });
    });
  });
  const { url } = await listen(server, options.port, options.host ?? "127.0.0.1");
  return {
    url,
    received,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
