/**
 * `npm run demo`: one full two-phase rotation on the local stack, end to end,
 * with the evidence read back from Redis (through the Upstash REST bridge,
 * with @upstash/redis) and from the governor's HTTP API.
 *
 *   1. reset          exchange simulator reset, governor state cleared
 *   2. world          the demo world of `npm start` (dev/world.ts): universe, a regime per
 *                     symbol, 3 positions (SOLUSDT clearly weakest), entry records;
 *                     Apply Layer simulator on auto with a 1.5 s delay
 *   3. last slot      XRPUSDT (BASE, 4 slots) -> ALLOW active_slots_slot_free: 4/4 held
 *   4. candidate      ADAUSDT (BASE) score 3 -> BLOCK active_slots_waiting_rotation_close;
 *                     lock key, close plan on apply.plan, ROTATION_LOCK_CREATED
 *   5. confirmation   the Apply Layer simulator closes SOLUSDT -> apply.result
 *   6. sweep          GET /__scheduled -> ROTATION_COMPLETE, PLAN_ALLOWED, permit
 *   7. resubmit       the same plan -> ALLOW (replayed)
 *
 * The stack: if the stack file (GOV_STACK_FILE or .dev/stack.json) exists and
 * its governor's /v1/health answers 200, that stack is reused; otherwise
 * `node dev/stack.ts --no-cron` is started (ports from GOV_PORT, REDIS_REST_PORT,
 * EXCHANGE_SIM_PORT; always the local Redis and exchange simulator) and
 * stopped at the end. A reused stack's own cron may complete the rotation
 * before step 6; the sweep step then finds it completed.
 *
 * Own stack: its private Redis is emptied with FLUSHDB. Reused stack: no
 * FLUSHDB; instead the exchange simulator is reset (its positions, klines and
 * Apply Layer settings are replaced), the universe is overwritten, and the
 * governor's slot bookkeeping is cleared by exact key name (reservations,
 * claims, rotation locks listed in the lock index, entry records, churn log,
 * cached klines of the demo symbols); streams are kept, and the demo reads
 * only what was appended after it started. Every run uses a fresh plan id.
 *
 * Exit code 0 when every step saw what it expected; 1 otherwise (expected vs
 * seen is printed).
 */
import { Redis } from "@upstash/redis";
import { redisKeys } from "../lib/keys.ts";
import { explainDecision } from "../lib/plans/explain.ts";
import { DecisionBodySchema, type DecisionBody } from "../lib/plans/decision.ts";
import { toStreamEntries, type StreamEntry } from "../lib/redis/replies.ts";
import { closePlanId } from "../lib/rotation/close-plan-id.ts";
import {
  ClientError,
  getWithToken,
  governorHealthy,
  newPlanId,
  postPlan,
  readStackFile,
  REMOTE_SERVICE_ENV_VARS,
  request,
  stackFilePath,
  startStack,
  trimSlash,
  type RunningStack,
  type StackInfo,
} from "./stack-client.ts";
import { DEMO_WORLD, describeWorld, seedWorld } from "./world.ts";

const PREFIX = "quantum";
const keys = redisKeys(PREFIX);
/** The story in the demo world (dev/world.ts): XRPUSDT takes the last slot, ADAUSDT rotates. */
const LAST_SLOT = "XRPUSDT";
const CANDIDATE = "ADAUSDT";
const CANDIDATE_SCORE = 3;
const WEAKEST = "SOLUSDT";
const APPLY_DELAY_MS = 1500;
const CONFIRM_TIMEOUT_MS = 15_000;

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: string) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const bold = paint("1");
const dim = paint("2");
const green = paint("32");
const red = paint("31");

class DemoFailure extends Error {}

/** The parts of GET /v1/status the demo shows. */
interface GovernorStatus {
  slots?: { holders?: number };
  positions?: { symbol: string; position_amt: number; pnl_pct: number; weakness: number }[];
}

const t0 = performance.now();
let storyStart = t0;
const elapsed = (from = t0) => `${((performance.now() - from) / 1000).toFixed(1)}s`;

let stepNo = 0;
let stepTitle = "starting";
function step(title: string): void {
  stepNo += 1;
  stepTitle = title;
  console.log(`\n${dim(`[${elapsed(storyStart).padStart(5)}]`)} ${bold(`${stepNo}. ${title}`)}`);
}

/** One indented evidence line, wrapped at ~110 columns on spaces. */
function detail(text: string, indent = 10): void {
  const pad = " ".repeat(indent);
  const cont = " ".repeat(indent + 4);
  for (const raw of text.split("\n")) {
    let line = pad;
    let first = true;
    for (const word of raw.split(" ")) {
      if (line.length + word.length + 1 > 110 && line.trim() !== "") {
        console.log(line);
        line = cont;
        first = true;
      }
      line += first ? word : ` ${word}`;
      first = false;
    }
    console.log(line);
  }
}

function ok(text: string): void {
  detail(`${green("ok")} ${text}`);
}

function expect(condition: unknown, expected: string, seen: unknown): asserts condition {
  if (condition) return;
  const shown = typeof seen === "string" ? seen : JSON.stringify(seen);
  throw new DemoFailure(`expected ${expected}\n  saw:      ${shown}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** JSON with a space after each top-level comma, so detail() can wrap it. */
function spaced(value: unknown): string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return JSON.stringify(value);
  }
  const parts = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  return `{${parts.join(", ")}}`;
}

function entryLine(key: string, entry: StreamEntry): string {
  const fields = Object.entries(entry.fields).map(([k, v]) => `${k}=${v}`);
  return `${key} ${entry.id}  ${fields.join(" ")}`;
}

// ---------------------------------------------------------------------------

class Story {
  readonly stack: StackInfo;
  readonly own: boolean;
  readonly redis: Redis;
  readonly plan_id = newPlanId("demo");
  readonly closePlanId: string;
  /** Stream ids the demo reads after (exclusive); "-" = from the beginning. */
  private readonly after: Record<string, string> = {};

  constructor(stack: StackInfo, own: boolean) {
    this.stack = stack;
    this.own = own;
    this.redis = new Redis({
      url: stack.redis_rest.url,
      token: stack.redis_rest.token,
      automaticDeserialization: false,
      enableAutoPipelining: false,
      enableTelemetry: false,
    });
    this.closePlanId = closePlanId(this.plan_id, WEAKEST);
  }

  get governor() {
    return trimSlash(this.stack.governor);
  }

  async sim(method: string, path: string, body?: unknown): Promise<unknown> {
    const url = `${trimSlash(this.stack.exchange.url)}${path}`;
    const response = await request(url, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status !== 200) {
      throw new DemoFailure(
        `${method} ${path} on the exchange simulator answered ${response.status}: ${response.text.slice(0, 300)}` +
          " (the demo needs the local exchange simulator)",
      );
    }
    return response.body;
  }

  /** Entries of `key` appended since the demo started, paged. */
  async stream(key: string): Promise<StreamEntry[]> {
    const out: StreamEntry[] = [];
    let start = this.after[key] === "-" ? "-" : `(${this.after[key] ?? "0-0"}`;
    for (;;) {
      const page = toStreamEntries(await this.redis.xrange(key, start, "+", 500));
      out.push(...page);
      if (page.length < 500) return out;
      start = `(${page[page.length - 1]!.id}`;
    }
  }

  async keyWithTtl(key: string): Promise<{ value: string | null; ttl: number }> {
    const [value, ttl] = await Promise.all([this.redis.get<string>(key), this.redis.ttl(key)]);
    return { value: value ?? null, ttl };
  }

  async events(name: string): Promise<StreamEntry[]> {
    return (await this.stream(keys.eventsStream)).filter((e) => e.fields.event === name);
  }

  async submit(planId = this.plan_id, symbol = CANDIDATE) {
    const plan = {
      plan_id: planId,
      symbol,
      action: "OPEN",
      decision: "EXECUTE",
      side: "LONG",
      score: CANDIDATE_SCORE,
    };
    const response = await postPlan(this.governor, this.stack.webhook_secret, plan);
    expect(
      response.status === 200,
      "HTTP 200 from POST /v1/plans",
      `${response.status} ${response.text}`,
    );
    const parsed = DecisionBodySchema.safeParse(response.body);
    expect(parsed.success, "a decision body (docs/contract.md §4)", response.text);
    return parsed.data as DecisionBody;
  }

  // -- the steps --------------------------------------------------------------

  async reset(): Promise<void> {
    step("reset: exchange simulator and governor state");
    await this.sim("POST", "/__sim/reset");
    ok("POST /__sim/reset");
    const streams = [keys.applyPlanStream, keys.applyResultStream, keys.eventsStream];
    if (this.own) {
      const answer = await this.redis.flushdb();
      ok(`FLUSHDB -> ${String(answer)} (the demo's own stack: a private redis-server)`);
      for (const stream of streams) this.after[stream] = "-";
    } else {
      const locks = (await this.redis.zrange(keys.lockIndex, 0, -1)) as string[];
      const doomed = [
        keys.reservations,
        keys.claims,
        keys.lockIndex,
        keys.closePlans,
        keys.entries,
        keys.rotationLog,
        keys.openSymbols,
        keys.lastGates,
        keys.binanceBackoff,
        ...locks.map((id) => keys.rotationLock(id)),
        ...DEMO_WORLD.universe.map((symbol) => keys.marketCache(symbol, "1h")),
      ];
      const deleted = await this.redis.del(...doomed);
      ok(
        `reused stack, no FLUSHDB: DEL of ${doomed.length} governor bookkeeping keys ` +
          `(${deleted} existed, ${locks.length} rotation locks)`,
      );
      for (const stream of streams) {
        const [last] = toStreamEntries(await this.redis.xrevrange(stream, "+", "-", 1));
        this.after[stream] = last?.id ?? "-";
        detail(`${stream}: reading after ${last?.id ?? "(empty stream)"}`);
      }
    }
  }

  async world(): Promise<void> {
    step(`world: ${describeWorld(DEMO_WORLD)}`);
    await seedWorld(DEMO_WORLD, {
      exchangeUrl: this.stack.exchange.url,
      redis: this.redis,
      keys,
    });
    await this.sim("PUT", "/__sim/apply", { auto: true, delay_ms: APPLY_DELAY_MS, executed: true });
    ok(
      `PUT /__sim/klines/{symbol} (a preset per symbol), PUT /__sim/positions, PUT /__sim/account, ` +
        `HSET ${keys.entries} (dev/world.ts)`,
    );
    ok(`PUT /__sim/apply {auto:true, delay_ms:${APPLY_DELAY_MS}, executed:true}`);
    const stored = await this.redis.hget<string>(keys.policy, "universe_symbols");
    expect(
      stored === JSON.stringify(DEMO_WORLD.universe),
      `universe_symbols = ${JSON.stringify(DEMO_WORLD.universe)}`,
      stored,
    );
    detail(`HGET ${keys.policy} universe_symbols = ${stored}`);

    const status = await getWithToken(`${this.governor}/v1/status`, this.stack.read_token);
    expect(
      status.status === 200,
      "HTTP 200 from GET /v1/status",
      `${status.status} ${status.text}`,
    );
    const body = status.body as GovernorStatus;
    const positions = Array.isArray(body.positions) ? body.positions : [];
    detail("the governor's view (GET /v1/status), weakest first:");
    for (const p of positions) {
      detail(
        `${String(p.symbol).padEnd(8)} amt ${String(p.position_amt).padStart(4)}  ` +
          `pnl ${(p.pnl_pct * 100).toFixed(1).padStart(5)}%  weakness ${p.weakness.toFixed(4)}` +
          (p.symbol === WEAKEST ? "   <- weakest" : ""),
        12,
      );
    }
    const count = DEMO_WORLD.positions.length;
    expect(
      positions.length === count && positions[0]?.symbol === WEAKEST,
      `${count} positions with ${WEAKEST} the weakest`,
      positions.map((p) => `${p.symbol}:${p.weakness}`),
    );
  }

  async lastSlot(): Promise<void> {
    const planId = newPlanId("demo");
    step(`last slot: POST /v1/plans ${planId} ${LAST_SLOT} OPEN score ${CANDIDATE_SCORE}`);
    const body = await this.submit(planId, LAST_SLOT);
    detail(`-> ${spaced(body)}`);
    expect(
      body.decision === "ALLOW" && body.reason === "active_slots_slot_free",
      "ALLOW active_slots_slot_free",
      `${body.decision} ${body.reason}`,
    );
    expect(
      body.slots?.holders === 4 && body.slots.desired === 4,
      "4/4 slots held after it",
      body.slots,
    );
    ok(`ALLOW active_slots_slot_free: ${explainDecision(body).why}`);
  }

  async candidate(): Promise<void> {
    step(`candidate: POST /v1/plans ${this.plan_id} ${CANDIDATE} OPEN score ${CANDIDATE_SCORE}`);
    const body = await this.submit();
    detail(`-> ${spaced(body)}`);
    expect(
      body.decision === "BLOCK" && body.reason === "active_slots_waiting_rotation_close",
      "BLOCK active_slots_waiting_rotation_close",
      `${body.decision} ${body.reason}`,
    );
    expect(
      body.rotation?.close_symbol === WEAKEST && body.rotation?.close_plan_id === this.closePlanId,
      `rotation closing ${WEAKEST} via ${this.closePlanId}`,
      body.rotation,
    );
    ok(`BLOCK active_slots_waiting_rotation_close: ${explainDecision(body).why}`);

    const lockKey = keys.rotationLock(this.plan_id);
    const lock = await this.keyWithTtl(lockKey);
    expect(lock.value !== null, `${lockKey} to exist`, "no such key");
    const parsed = JSON.parse(lock.value) as Record<string, unknown>;
    detail(`GET ${lockKey} (TTL ${lock.ttl} s) = ${spaced(parsed)}`);
    expect(
      parsed.new_plan_id === this.plan_id &&
        parsed.new_symbol === CANDIDATE &&
        parsed.close_symbol === WEAKEST &&
        parsed.close_plan_id === this.closePlanId &&
        typeof parsed.created_at === "number",
      `lock {new_symbol:${CANDIDATE}, new_plan_id:${this.plan_id}, close_symbol:${WEAKEST}, close_plan_id:${this.closePlanId}, created_at}`,
      parsed,
    );

    const closePlans = (await this.stream(keys.applyPlanStream)).filter(
      (e) => e.fields.plan_id === this.closePlanId,
    );
    expect(
      closePlans.length === 1,
      `one close plan ${this.closePlanId} on ${keys.applyPlanStream}`,
      closePlans,
    );
    const close = closePlans[0]!;
    detail(`XRANGE ${entryLine(keys.applyPlanStream, close)}`);
    const f = close.fields;
    expect(
      f.symbol === WEAKEST &&
        f.action === "FULL_CLOSE_PROPOSED" &&
        f.reduceOnly === "true" &&
        f.decision === "EXECUTE" &&
        f.rotation_trigger === "true" &&
        f.new_plan_id === this.plan_id,
      "action=FULL_CLOSE_PROPOSED reduceOnly=true decision=EXECUTE rotation_trigger=true",
      f,
    );

    const created = (await this.events("ROTATION_LOCK_CREATED")).filter(
      (e) => e.fields.new_plan_id === this.plan_id,
    );
    expect(created.length === 1, "one ROTATION_LOCK_CREATED event", created);
    detail(`XRANGE ${entryLine(keys.eventsStream, created[0]!)}`);
    const permit = await this.redis.get(keys.permit(this.plan_id));
    expect(permit === null, "no permit yet (the close is not confirmed)", permit);
    ok(`no ${keys.permit(this.plan_id)} yet: the entry waits for the close`);
  }

  async confirmation(): Promise<void> {
    step(`confirmation: the Apply Layer simulator closes ${WEAKEST} (after ${APPLY_DELAY_MS} ms)`);
    const started = performance.now();
    const deadline = Date.now() + CONFIRM_TIMEOUT_MS;
    let confirmed: StreamEntry | undefined;
    while (!confirmed) {
      confirmed = (await this.stream(keys.applyResultStream)).find(
        (e) => e.fields.plan_id === this.closePlanId && e.fields.executed === "true",
      );
      if (confirmed) break;
      expect(
        Date.now() < deadline,
        `an executed=true ${keys.applyResultStream} entry for ${this.closePlanId} within ${CONFIRM_TIMEOUT_MS} ms`,
        await this.stream(keys.applyResultStream),
      );
      await sleep(100);
    }
    detail(`XRANGE ${entryLine(keys.applyResultStream, confirmed)}`);
    expect(confirmed.fields.reduceOnly === "true", "reduceOnly=true", confirmed.fields);
    ok(`confirmed after ${elapsed(started)} of polling`);
    const positions = (await this.sim("GET", "/__sim/positions")) as Record<string, unknown>[];
    const open = positions
      .filter((p) => Math.abs(Number(p.positionAmt)) > 1e-8)
      .map((p) => String(p.symbol));
    expect(!open.includes(WEAKEST), `${WEAKEST} closed in the exchange simulator`, open);
    ok(`exchange positions now: ${open.join(", ")}`);
  }

  async sweep(): Promise<void> {
    step("sweep: GET /__scheduled?cron=*+*+*+*+* (the cron, run now)");
    const response = await request(`${this.governor}/__scheduled?cron=*+*+*+*+*`);
    expect(
      response.status === 200,
      "HTTP 200 from the cron test route",
      `${response.status} ${response.text}`,
    );
    detail(`-> ${response.status} ${response.text.trim()}`);

    let complete: StreamEntry | undefined;
    let allowed: StreamEntry | undefined;
    const deadline = Date.now() + 5000;
    for (;;) {
      const events = await this.stream(keys.eventsStream);
      complete = events.find(
        (e) => e.fields.event === "ROTATION_COMPLETE" && e.fields.new_plan_id === this.plan_id,
      );
      allowed = events.find(
        (e) => e.fields.event === "PLAN_ALLOWED" && e.fields.plan_id === this.plan_id,
      );
      if ((complete && allowed) || Date.now() > deadline) break;
      await sleep(100);
    }
    expect(complete, `ROTATION_COMPLETE for ${this.plan_id}`, "none");
    expect(allowed, `PLAN_ALLOWED for ${this.plan_id}`, "none");
    detail(`XRANGE ${entryLine(keys.eventsStream, complete)}`);
    detail(`XRANGE ${entryLine(keys.eventsStream, allowed)}`);

    const permitKey = keys.permit(this.plan_id);
    const permit = await this.keyWithTtl(permitKey);
    expect(permit.value !== null, `${permitKey} to exist`, "no such key");
    detail(`GET ${permitKey} (TTL ${permit.ttl} s) = ${spaced(JSON.parse(permit.value))}`);
    const lock = await this.redis.get(keys.rotationLock(this.plan_id));
    expect(lock === null, "the rotation lock to be gone", lock);
    ok(`${keys.rotationLock(this.plan_id)} removed`);

    const state = await getWithToken(
      `${this.governor}/v1/plans/${this.plan_id}`,
      this.stack.read_token,
    );
    const body = state.body as { permit?: { plan_id?: string } | null };
    expect(
      state.status === 200 && body.permit?.plan_id === this.plan_id,
      `GET /v1/plans/${this.plan_id} to show the permit`,
      `${state.status} ${state.text}`,
    );
    detail(`GET /v1/plans/${this.plan_id} -> permit ${spaced(body.permit)}`);
  }

  async resubmit(): Promise<void> {
    step(`resubmit: POST /v1/plans ${this.plan_id} again`);
    const body = await this.submit();
    detail(`-> ${spaced(body)}`);
    expect(
      body.decision === "ALLOW" && body.replayed === true,
      "ALLOW (replayed)",
      `${body.decision} ${body.reason}${body.replayed ? " (replayed)" : ""}`,
    );
    const closePlans = (await this.stream(keys.applyPlanStream)).filter(
      (e) => e.fields.plan_id === this.closePlanId,
    );
    expect(
      closePlans.length === 1,
      "still exactly one close plan (no new side effects)",
      closePlans,
    );
    ok(`ALLOW ${body.reason} (replayed), no new close plan`);
  }
}

// ---------------------------------------------------------------------------

/** The environment for an own stack: local ports from env, never remote services. */
function ownStackEnv(): NodeJS.ProcessEnv {
  // The demo seeds the world itself, after its reset.
  const env: NodeJS.ProcessEnv = { ...process.env, GOV_STACK_EMPTY: "1" };
  for (const name of REMOTE_SERVICE_ENV_VARS) delete env[name];
  return env;
}

async function acquireStack(): Promise<{ info: StackInfo; running?: RunningStack }> {
  const path = stackFilePath();
  let existing: StackInfo | undefined;
  try {
    existing = readStackFile(path);
  } catch (error) {
    console.log(dim(`ignoring ${path}: ${(error as Error).message}`));
  }
  if (existing && (await governorHealthy(existing.governor))) {
    console.log(`reusing the running stack: governor ${existing.governor} (${path})`);
    return { info: existing };
  }
  console.log(`starting the local stack (node dev/stack.ts) ...`);
  const running = await startStack({
    env: ownStackEnv(),
    // The story runs the sweep itself (step 6); a cron run at a minute boundary would
    // complete the rotation before it.
    args: ["--no-cron"],
    onOutput: (line) => console.log(dim(`  stack| ${line}`)),
  });
  const { governor, redis_rest, exchange } = running.info;
  console.log(
    `stack started in ${elapsed()}: governor ${governor}, redis_rest ${redis_rest.url}, ` +
      `exchange ${exchange.url}`,
  );
  return { info: running.info, running };
}

async function main(): Promise<number> {
  console.log(bold("governor demo: a strict two-phase rotation, end to end"));
  let running: RunningStack | undefined;
  let stopping: Promise<unknown> | undefined;
  const stopStack = () => (stopping ??= running?.stop() ?? Promise.resolve());
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error("\ninterrupted; stopping the stack");
    void stopStack().then(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let code = 0;
  try {
    const stack = await acquireStack();
    running = stack.running;
    const story = new Story(stack.info, running !== undefined);
    storyStart = performance.now();
    console.log(`plan ${story.plan_id}, close plan ${story.closePlanId}`);
    await story.reset();
    await story.world();
    await story.lastSlot();
    await story.candidate();
    await story.confirmation();
    await story.sweep();
    await story.resubmit();
    console.log(
      `\n${green(bold("demo passed"))}: rotation ${WEAKEST} -> ${CANDIDATE} in ${elapsed(storyStart)} ` +
        `(7 steps)`,
    );
  } catch (error) {
    code = 1;
    const where = stepNo === 0 ? "before the first step" : `in step ${stepNo} (${stepTitle})`;
    const message =
      error instanceof DemoFailure || error instanceof ClientError
        ? error.message
        : ((error as Error).stack ?? String(error));
    console.error(`\n${red(bold("demo FAILED"))} ${where}:\n  ${message}`);
  } finally {
    if (running) {
      console.log("stopping the stack the demo started ...");
      const exit = await stopStack();
      if (exit !== 0) {
        console.error(`the stack exited with ${exit}`);
        code ||= 1;
      }
    }
  }
  console.log(`total ${elapsed()}`);
  return code;
}

process.exitCode = await main();
