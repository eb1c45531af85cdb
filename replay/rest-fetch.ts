/**
 * The Upstash REST protocol in-process: the bridge's own protocol code
 * (dev/bridge/protocol.ts) answers the replay governor's `@upstash/redis`
 * requests without an HTTP hop. The client only ever calls the global
 * `fetch`, so requests to the store's origin (a `.invalid` host nothing
 * else resolves) are routed here while the store is open; every other
 * request goes to the fetch that was there before.
 */
import type { RestProtocol, RestRequest } from "../dev/bridge/protocol.ts";
import { TextResponse } from "./text-response.ts";

type Answer = (path: string, init: RequestInit | undefined) => Promise<Response>;

/** Origins answered in-process, and the global fetch from before the first one. */
const routes = new Map<string, Answer>();
let outside: typeof fetch | undefined;

const routed: typeof fetch = async (input, init) => {
  // The REST clients send a URL and an init; a Request is someone else's.
  if (typeof input === "string" || input instanceof URL) {
    const url = String(input);
    for (const [origin, answer] of routes) {
      if (url === origin || url.startsWith(`${origin}/`) || url.startsWith(`${origin}?`)) {
        return answer(url.slice(origin.length) || "/", init);
      }
    }
  }
  return outside!(input, init);
};

/**
 * Answer REST requests to `origin` (e.g. `http://redis-1a2b.replay.invalid`)
 * with `protocol` until the returned function is called.
 */
export function serveInProcess(origin: string, protocol: RestProtocol): () => void {
  if (routes.has(origin)) throw new Error(`${origin} is already served in-process`);
  if (routes.size === 0) {
    outside = globalThis.fetch;
    globalThis.fetch = routed;
  }
  routes.set(origin, (path, init) => answer(protocol, path, init));
  return () => {
    if (!routes.delete(origin) || routes.size > 0) return;
    if (globalThis.fetch === routed) globalThis.fetch = outside!;
    outside = undefined;
  };
}

async function answer(
  protocol: RestProtocol,
  target: string,
  init: RequestInit | undefined,
): Promise<Response> {
  const signal = init?.signal ?? undefined;
  signal?.throwIfAborted();
  const body = bodyText(init?.body);
  const request: RestRequest = {
    method: (init?.method ?? "GET").toUpperCase(),
    path: target.split("?")[0]!,
    authorization: header(init?.headers, "authorization"),
    encoding: header(init?.headers, "upstash-encoding"),
    body: async (limit) => (Buffer.byteLength(body) > limit ? null : body),
  };
  const handled = protocol.handle(request);
  const reply = await (signal ? abortable(handled, signal) : handled);
  return new TextResponse(JSON.stringify(reply.body), reply.status);
}

function bodyText(body: RequestInit["body"]): string {
  if (body === undefined || body === null) return "";
  if (typeof body === "string") return body;
  throw new TypeError("the in-process REST fetch takes a string body (as @upstash/redis sends)");
}

/** A header of a fetch init, by lower-case name: a plain object, as both REST clients send. */
function header(headers: HeadersInit | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  if (headers instanceof Headers || Array.isArray(headers)) {
    throw new TypeError("the in-process REST fetch takes headers as a plain object");
  }
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

/**
 * `work`, or the signal's reason once it aborts (the client's timeout), as a
 * real fetch would. The listener goes when the work settles, so a timeout
 * signal nobody listens to any more can be collected before its timer fires.
 */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}
