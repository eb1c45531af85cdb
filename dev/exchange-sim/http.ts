/**
 * The HTTP plumbing the exchange routes and the control API share: reading a
 * body, writing an answer (every answer carries X-MBX-USED-WEIGHT-1M), and
 * the error the control API answers in its own JSON shape.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

const MAX_BODY = 1024 * 1024;

/** An error answered as `{error: {code, message, issues?}}` with its status. */
export class ControlError extends Error {
  readonly status: number;
  readonly issues: unknown;
  constructor(status: number, message: string, issues?: unknown) {
    super(message);
    this.status = status;
    this.issues = issues;
  }
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new ControlError(413, "request body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** Writes one answer: a string body as it is, anything else as JSON. */
export type Send = (
  res: ServerResponse,
  status: number,
  body: unknown,
  headers?: Record<string, string>,
) => void;

/** A Send that stamps every answer with the weight used in the current minute. */
export function weightStampedSend(usedWeight: () => number): Send {
  return (res, status, body, headers = {}) => {
    if (res.destroyed || res.headersSent) return;
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, {
      "Content-Type": headers["Content-Type"] ?? "application/json",
      "X-MBX-USED-WEIGHT-1M": String(usedWeight()),
      ...headers,
    });
    res.end(text);
  };
}

export function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
