/**
 * Small HTTP clients for a running local stack (the content of `.dev/stack.json`):
 * signed plan submission to the governor, raw Upstash REST commands and the
 * bridge's control routes, and the exchange simulator's control API.
 * Shared by the benchmark (bench/run.ts) and the fault suite (test/faults).
 */
import { createHmac } from "node:crypto";
import type { StackInfo } from "../dev/stack-client.ts";

export type { StackInfo };

/** A parsed JSON answer, read loosely: callers check the shapes they rely on at run time. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Loose = any;

export interface PlanAnswer {
  status: number;
  body: Record<string, Loose>;
  /** ms, request sent to body read */
  ms: number;
}

export interface StackClients {
  stack: StackInfo;
  /** POST /v1/plans, signed as the Apply Layer signs it. */
  postPlan(plan: Record<string, unknown>, timeoutMs?: number): Promise<PlanAnswer>;
  /** One Redis command through the REST bridge (counted by the bridge). */
  redis(command: (string | number)[]): Promise<unknown>;
  /** Several commands in one /pipeline request (one bridge request). */
  pipeline(commands: (string | number)[][]): Promise<unknown[]>;
  /** Bridge requests this client has sent itself (to subtract from the bridge's count). */
  readonly ownRedisRequests: number;
  bridgeStats(): Promise<{ requests: number; by_path: Record<string, number> }>;
  /** Start/end of each Redis request the bridge served, from the `since`-th on. */
  bridgeTimings(since: number): Promise<{ count: number; timings: Loose[] }>;
  bridgeReset(): Promise<void>;
  bridgeFault(
    fault: { times: number; status?: number; delayMs?: number; path?: string } | null,
  ): Promise<void>;
  /** The exchange simulator's control API (`/__sim/...`). */
  sim(method: string, path: string, body?: unknown): Promise<Loose>;
  /** Weight and request count the simulator has logged so far. */
  simTotals(): Promise<{ total_weight: number; count: number }>;
  /** GET on the governor with the read token. */
  read(path: string): Promise<{ status: number; body: Loose }>;
}

export function sign(secret: string, timestamp: string, rawBody: string): string {
  return createHmac("sha256", secret).update(`${timestamp}.${rawBody}`).digest("hex");
}

/**
 * POST a plan to `url` as the Apply Layer does: the JSON body, signed with
 * `secret`; the answer read and parsed. The floor worker gets the very same
 * request (bench/floor-worker.ts), so the client's own work is on both sides.
 */
export async function sendPlan(
  url: string,
  secret: string,
  plan: Record<string, unknown>,
  timeoutMs = 30_000,
): Promise<PlanAnswer> {
  const rawBody = JSON.stringify({ action: "OPEN", decision: "EXECUTE", ...plan });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const started = performance.now();
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-governor-timestamp": timestamp,
      "x-governor-signature": sign(secret, timestamp, rawBody),
    },
    body: rawBody,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  let body: Record<string, Loose>;
  try {
    body = JSON.parse(text) as Record<string, Loose>;
  } catch {
    body = { unparsable: text.slice(0, 200) };
  }
  return { status: response.status, body, ms };
}

export function stackClients(stack: StackInfo): StackClients {
  const bearer = { authorization: `Bearer ${stack.redis_rest.token}` };
  let own = 0;

  async function bridgeCall(path: string, body: unknown): Promise<unknown> {
    own += 1;
    const response = await fetch(`${stack.redis_rest.url}${path}`, {
      method: "POST",
      headers: { ...bearer, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as Loose;
    if (!response.ok) throw new Error(`bridge ${path}: HTTP ${response.status} ${json?.error}`);
    return json;
  }

  async function control(method: string, path: string, body?: unknown): Promise<Loose> {
    const response = await fetch(`${stack.redis_rest.url}/__bridge/${path}`, {
      method,
      headers: bearer,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`bridge control ${path}: HTTP ${response.status}`);
    return json;
  }

  return {
    stack,
    postPlan(plan, timeoutMs = 30_000) {
      return sendPlan(`${stack.governor}/v1/plans`, stack.webhook_secret, plan, timeoutMs);
    },
    async redis(command) {
      return ((await bridgeCall("/", command)) as { result: unknown }).result;
    },
    async pipeline(commands) {
      const answers = (await bridgeCall("/pipeline", commands)) as {
        result?: unknown;
        error?: string;
      }[];
      return answers.map((a) => {
        if (a.error !== undefined) throw new Error(`bridge pipeline: ${a.error}`);
        return a.result;
      });
    },
    get ownRedisRequests() {
      return own;
    },
    bridgeStats: () => control("GET", "stats"),
    bridgeTimings: (since) => control("GET", `timings?since=${since}`),
    async bridgeReset() {
      await control("POST", "reset");
    },
    async bridgeFault(fault) {
      await control("PUT", "fault", fault);
    },
    async sim(method, path, body) {
      const response = await fetch(`${stack.exchange.url}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = await response.json();
      if (!response.ok) {
        throw new Error(`sim ${method} ${path}: HTTP ${response.status} ${JSON.stringify(json)}`);
      }
      return json;
    },
    async simTotals() {
      // `since` past the end: totals only, no request rows.
      const log = (await this.sim("GET", "/__sim/requests?since=999999999999")) as {
        total_weight: number;
        count: number;
      };
      return { total_weight: log.total_weight, count: log.count };
    },
    async read(path) {
      const response = await fetch(`${stack.governor}${path}`, {
        headers: { authorization: `Bearer ${stack.read_token}` },
      });
      return { status: response.status, body: await response.json() };
    },
  };
}

/** Flat [field, value, ...] (RESP2 HGETALL) to an object. */
export function hashOf(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) out[String(raw[i])] = String(raw[i + 1]);
  }
  return out;
}

/** Percentile (nearest rank) of unsorted values; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
