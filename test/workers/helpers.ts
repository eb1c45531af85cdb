import { env, exports } from "cloudflare:workers";
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { vi } from "vitest";
import { Redis } from "@upstash/redis/cloudflare";
import worker from "../../functions/index.ts";
import { hmacSha256Hex } from "../../lib/binance/sign.ts";
import { redisKeys } from "../../lib/keys.ts";
import { closePlanId } from "../../lib/rotation/close-plan-id.ts";
import { SCRIPTS } from "../../lib/rotation/scripts.ts";
import { toStreamEntries } from "../../lib/redis/replies.ts";

export const keys = redisKeys("quantum");

/** A plain client to arrange and inspect Redis state (raw strings, one request per command). */
export const redis = new Redis({
  url: env.UPSTASH_REDIS_REST_URL!,
  token: env.UPSTASH_REDIS_REST_TOKEN!,
  automaticDeserialization: false,
  enableAutoPipelining: false,
  enableTelemetry: false,
});

/** Call the exchange simulator's control API. */
export async function sim(method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${env.BINANCE_BASE_URL}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok)
    throw new Error(`sim ${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** Call the REST bridge's control API (request counts, faults). */
export async function bridge(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ requests: number }> {
  const response = await fetch(`${env.UPSTASH_REDIS_REST_URL}/__bridge/${path}`, {
    method,
    headers: { authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await response.json()) as { requests: number };
}

/** Fresh state: empty Redis, simulator reset, counters at zero. */
export async function resetWorld(): Promise<void> {
  await redis.flushall();
  await sim("POST", "/__sim/reset");
  await bridge("PUT", "fault", null);
  await bridge("POST", "reset");
}

export async function setUniverse(symbols: string[]): Promise<void> {
  await redis.hset(keys.policy, { universe_symbols: JSON.stringify(symbols) });
}

export interface PositionSpec {
  symbol: string;
  amt: number;
  entry?: number;
  pnl?: number;
  /** hours since the position was last updated */
  ageHours?: number;
}

export async function setPositions(positions: PositionSpec[]): Promise<void> {
  const now = Date.now();
  await sim(
    "PUT",
    "/__sim/positions",
    positions.map((p) => {
      const entry = p.entry ?? 100;
      const pnl = p.pnl ?? 0;
      return {
        symbol: p.symbol,
        positionAmt: String(p.amt),
        entryPrice: String(entry),
        markPrice: String(entry + pnl / p.amt),
        unRealizedProfit: String(pnl),
        updateTime: now - (p.ageHours ?? 1) * 3_600_000,
      };
    }),
  );
}

export async function setRegime(symbol: string, preset: "BASE" | "TREND_STRONG" | "CHOP") {
  await sim("PUT", `/__sim/klines/${symbol}`, { preset });
}

export interface PlanInput {
  plan_id: string;
  symbol: string;
  action?: string;
  decision?: string;
  [field: string]: unknown;
}

/** Sign a raw body as the Apply Layer does. */
export async function signedHeaders(
  rawBody: string,
  options: { timestamp?: number; secret?: string } = {},
) {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = await hmacSha256Hex(
    options.secret ?? env.GOV_WEBHOOK_SECRET!,
    `${timestamp}.${rawBody}`,
  );
  return {
    "content-type": "application/json",
    "x-governor-timestamp": timestamp,
    "x-governor-signature": signature,
  };
}

export async function postRaw(rawBody: string, headers: Record<string, string>): Promise<Response> {
  return exports.default.fetch(
    new Request("http://governor/v1/plans", { method: "POST", headers, body: rawBody }),
  );
}

/**
 * POST a signed plan to the worker; returns status and JSON body. With
 * `vars`, the worker runs with those settings over the test bindings (e.g.
 * `{ GOV_MODE: "shadow" }`).
 */
export async function postPlan(
  plan: PlanInput,
  vars?: Record<string, string | number | boolean>,
): Promise<{ status: number; body: Record<string, any> }> {
  let response: Response;
  if (vars) {
    response = (await postPlanTo({ ...env, ...vars } as Env, plan)).response;
  } else {
    const rawBody = planBody(plan);
    response = await postRaw(rawBody, await signedHeaders(rawBody));
  }
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

const planBody = (plan: Record<string, unknown>) =>
  JSON.stringify({ action: "OPEN", decision: "EXECUTE", ...plan });

/**
 * POST a signed plan to the worker's fetch handler with `workerEnv` and a new
 * execution context. Returns as soon as the handler answers, with the context:
 * `waitOnExecutionContext(ctx)` waits for the work it does after answering.
 */
export async function postPlanTo(workerEnv: Env, plan: Record<string, unknown>) {
  const rawBody = planBody(plan);
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request("http://governor/v1/plans", {
      method: "POST",
      headers: await signedHeaders(rawBody),
      body: rawBody,
    }),
    workerEnv,
    ctx,
  );
  return { response, ctx };
}

export async function getJson(path: string, token = env.GOV_READ_TOKEN!) {
  const response = await exports.default.fetch(
    new Request(`http://governor${path}`, { headers: { authorization: `Bearer ${token}` } }),
  );
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** Stream entries as field objects, oldest first. */
export async function streamEntries(stream: string): Promise<Record<string, string>[]> {
  return toStreamEntries(await redis.xrange(stream, "-", "+")).map((e) => ({
    id: e.id,
    ...e.fields,
  }));
}

export async function events(type?: string) {
  const all = await streamEntries(keys.eventsStream);
  return type ? all.filter((e) => e.event === type) : all;
}

export interface SimRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  weight: number;
  status: number;
  at: number;
}

/** The exchange simulator's request log, from index `since` on (count is the total). */
export async function simRequests(since = 0) {
  return (await sim("GET", `/__sim/requests?since=${since}`)) as {
    total_weight: number;
    count: number;
    requests: SimRequest[];
  };
}

/** `n` closed 1h kline rows (flat prices), the last one closed before the current hour. */
export function closedHourlyRows(n: number, price = 100): (number | string)[][] {
  const hour = 3_600_000;
  const currentOpen = Math.floor(Date.now() / hour) * hour;
  return Array.from({ length: n }, (_, i) => {
    const openTime = currentOpen - (n - i) * hour;
    return [openTime, String(price), String(price + 1), String(price - 1), String(price), "10"];
  });
}

/**
 * The signed endpoints the governor may read open positions from: docs/contract.md §2 names
 * positionRisk; the v3 account lists the same positions (and feeds the margin gate).
 * Fault both so a test holds whichever one the product reads.
 */
export const POSITION_ENDPOINTS = ["/fapi/v3/positionRisk", "/fapi/v3/account"] as const;

export interface SimFault {
  status?: number;
  delay_ms?: number;
  times?: number;
  body?: string;
  retry_after?: number;
}

/** Make every position source answer with this fault. */
export async function faultPositions(fault: SimFault): Promise<void> {
  await sim(
    "PUT",
    "/__sim/faults",
    POSITION_ENDPOINTS.map((path) => ({ path, ...fault })),
  );
}

/**
 * Serve the simulator's current open positions from every position source,
 * with each row passed through `transform` (e.g. to drop fields or corrupt values).
 */
export async function servePositionRows(
  transform: (row: Record<string, unknown>) => Record<string, unknown>,
  fault: Omit<SimFault, "body" | "status"> = {},
): Promise<void> {
  const rows = (await sim("GET", "/__sim/positions")) as Record<string, unknown>[];
  const account = (await sim("GET", "/__sim/account")) as { positions: Record<string, unknown>[] };
  const open = rows.filter((row) => Number(row.positionAmt) !== 0);
  await sim("PUT", "/__sim/faults", [
    {
      path: POSITION_ENDPOINTS[0],
      status: 200,
      body: JSON.stringify(open.map(transform)),
      ...fault,
    },
    {
      path: POSITION_ENDPOINTS[1],
      status: 200,
      body: JSON.stringify({ ...account, positions: account.positions.map(transform) }),
      ...fault,
    },
  ]);
}

/** Requests of the simulator log made to a position source. */
export function positionRequests(requests: SimRequest[]): SimRequest[] {
  return requests.filter((r) => (POSITION_ENDPOINTS as readonly string[]).includes(r.path));
}

// ---------------------------------------------------------------------------
// Operators' controls

/** The alert receiver the test setup started (dev/alert-receiver.ts). */
export const alertReceiverUrl = (env as unknown as { ALERT_RECEIVER_URL: string })
  .ALERT_RECEIVER_URL;

/** Call the alert receiver's control API (`/__alerts`, `/__fault`). */
export async function receiver(method: string, path: string, body?: unknown) {
  const response = await fetch(`${alertReceiverUrl}${path}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await response.json()) as {
    alerts: { path: string; content_type: string; body: Record<string, any>; raw: string }[];
    rejected: number;
  };
}

/** PUT /v1/trading-state through the worker (the admin token by default). */
export async function putTradingState(
  change: Record<string, unknown>,
  token: string | null = env.GOV_ADMIN_TOKEN!,
): Promise<{ status: number; body: Record<string, any> }> {
  const response = await exports.default.fetch(
    new Request("http://governor/v1/trading-state", {
      method: "PUT",
      headers: {
        "content-type": "application/json",
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(change),
    }),
  );
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** A waiting rotation lock's stored value (`keys.rotationLock`), as the evaluation path writes it. */
export function waitingLock(lock: {
  planId: string;
  newSymbol: string;
  closeSymbol: string;
  /** unix s */
  createdAt: number;
}): string {
  return JSON.stringify({
    new_symbol: lock.newSymbol,
    new_plan_id: lock.planId,
    close_symbol: lock.closeSymbol,
    close_plan_id: closePlanId(lock.planId, lock.closeSymbol),
    created_at: lock.createdAt,
    created_at_ms: lock.createdAt * 1000,
    ttl_s: 120,
    scan_from: "0-0",
  });
}

/** What seedWaitingLock writes with: the Redis client or one of its pipelines. */
interface LockWriter {
  set(key: string, value: string, options: { ex: number }): unknown;
  zadd(key: string, member: { score: number; member: string }): unknown;
  hset(key: string, fields: Record<string, string>): unknown;
}

/**
 * One waiting rotation lock in Redis as the evaluation path leaves it: its
 * key, its place in the lock index (`score`, ms), its claim on the close
 * symbol and its close plan. On a pipeline the writes are only queued.
 */
export function seedWaitingLock(
  target: LockWriter,
  lock: Parameters<typeof waitingLock>[0],
  score = lock.createdAt * 1000,
): Promise<unknown[]> {
  return Promise.all([
    target.set(keys.rotationLock(lock.planId), waitingLock(lock), { ex: 3600 }),
    target.zadd(keys.lockIndex, { score, member: lock.planId }),
    target.hset(keys.claims, { [lock.planId]: lock.closeSymbol }),
    target.hset(keys.closePlans, { [closePlanId(lock.planId, lock.closeSymbol)]: lock.planId }),
  ]);
}

/** The plan queue's name (wrangler.toml). */
export const PLAN_QUEUE = "governor-plans";

/** A queued plan body: an OPEN EXECUTE of BTCUSDT unless `extra` says otherwise. */
export function queuedPlan(planId: string, extra: Record<string, unknown> = {}) {
  return { plan_id: planId, symbol: "BTCUSDT", action: "OPEN", decision: "EXECUTE", ...extra };
}

/**
 * Deliver one batch (message ids msg-0, msg-1, …) to the Worker's queue handler.
 * The test harness does not record retry options, so each message's retry() is
 * spied on for its delay (`delays`: undefined when not retried).
 */
export async function deliverBatch(
  bodies: unknown[],
  options: { queue?: string; attempts?: number; env?: Env } = {},
) {
  const batch = createMessageBatch<unknown>(
    options.queue ?? PLAN_QUEUE,
    bodies.map((body, i) => ({
      id: `msg-${i}`,
      timestamp: new Date(),
      attempts: options.attempts ?? 1,
      body,
    })),
  );
  const retries = batch.messages.map((message) => vi.spyOn(message, "retry"));
  const ctx = createExecutionContext();
  await worker.queue(batch, options.env ?? env);
  const result = await getQueueResult(batch, ctx);
  const delays = retries.map((spy) =>
    spy.mock.calls.length === 0 ? undefined : (spy.mock.calls[0]?.[0]?.delaySeconds ?? null),
  );
  return { result, delays };
}

/**
 * `base` with `before` run ahead of every EVALUATE_SLOTS call (by its SHA or
 * its source): what a race between an evaluation's reads and its deciding
 * script needs, e.g. an operator's change or another evaluation in between.
 */
export function beforeSlotScript(
  base: Redis,
  slotsSha: string,
  before: () => Promise<unknown>,
): Redis {
  return new Proxy(base, {
    get(target, prop, receiver) {
      if (prop === "evalsha" || prop === "eval") {
        return async (script: string, scriptKeys: string[], args: unknown[]) => {
          if (script === slotsSha || script === SCRIPTS.evaluateSlots.source) await before();
          return target[prop](script, scriptKeys, args);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
