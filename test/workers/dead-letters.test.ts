/**
 * Dead letters: the consumer of the dead-letter queue records each dead plan
 * message in the bounded stream P:governor:dead_letters with the reason of its
 * last retry, and /v1/status and the dashboard show them.
 */
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { DEAD_LETTERS_MAXLEN, DEAD_LETTERS_SHOWN } from "../../lib/queue/dead-letters.ts";
import {
  bridge,
  faultPositions,
  getJson,
  keys,
  redis,
  resetWorld,
  setPositions,
  setRegime,
  setUniverse,
  streamEntries,
  deliverBatch,
  PLAN_QUEUE,
  queuedPlan as plan,
} from "./helpers.ts";

const QUEUE = PLAN_QUEUE;
const DLQ = "governor-plans-dlq";

const deliver = async (queue: string, bodies: unknown[], attempts = 1) =>
  (await deliverBatch(bodies, { queue, attempts })).result;

describe("the dead-letter consumer", () => {
  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    await setPositions([{ symbol: "ETHUSDT", amt: 1 }]);
  });

  it("records a dead plan with the reason of its last retry, then acks it", async () => {
    await faultPositions({ status: 500 });
    const retried = await deliver(QUEUE, [plan("dead-1")], 11);
    expect(retried.retryMessages).toEqual([{ msgId: "msg-0" }]);

    const result = await deliver(DLQ, [plan("dead-1")]);

    expect(result.ackAll).toBe(true);
    const [entry] = await streamEntries(keys.deadLetters);
    expect(entry).toMatchObject({
      seq: "1",
      queue: DLQ,
      plan_id: "dead-1",
      symbol: "BTCUSDT",
      reason: "active_slots_positions_unavailable",
      attempts: "11",
    });
    expect(JSON.parse(entry!.body!)).toEqual(plan("dead-1"));
    // Recording a dead letter evaluates nothing.
    expect(await redis.get(keys.permit("dead-1"))).toBeNull();
  });

  it("says unknown when no retry reason was kept, and accepts a JSON-string body", async () => {
    await deliver(DLQ, [JSON.stringify(plan("dead-2", { symbol: "ETHUSDT" }))]);
    const [entry] = await streamEntries(keys.deadLetters);
    expect(entry).toMatchObject({ plan_id: "dead-2", symbol: "ETHUSDT", reason: "unknown" });
  });

  it("retries the batch, acking nothing, when Redis refuses", async () => {
    await bridge("PUT", "fault", { times: 10, status: 500 });
    const result = await deliver(DLQ, [plan("dead-3")]);
    await bridge("PUT", "fault", null);
    expect(result.ackAll).toBe(false);
    expect(result.retryBatch.retry).toBe(true);
    expect(await redis.exists(keys.deadLetters)).toBe(0);
  });

  it("keeps the stream bounded near MAXLEN while the count goes on", async () => {
    const total = DEAD_LETTERS_MAXLEN + 150;
    for (let start = 0; start < total; start += 100) {
      const size = Math.min(100, total - start);
      await deliver(
        DLQ,
        Array.from({ length: size }, (_, i) => plan(`bulk-${start + i}`)),
      );
    }
    const length = await redis.xlen(keys.deadLetters);
    // MAXLEN ~ trims whole stream nodes (100 entries each): never below the bound, never far above.
    expect(length).toBeGreaterThanOrEqual(DEAD_LETTERS_MAXLEN);
    expect(length).toBeLessThan(DEAD_LETTERS_MAXLEN + 100);
    const status = await getJson("/v1/status");
    expect(status.body.dead_letters.count).toBe(total);
  });

  it("/v1/status shows the count and the newest few, newest first", async () => {
    await faultPositions({ status: 500 });
    await deliver(QUEUE, [plan("dead-a"), plan("dead-b")], 11);
    for (const id of ["dead-a", "dead-b", "dead-c", "dead-d", "dead-e", "dead-f"]) {
      await deliver(DLQ, [plan(id)]);
    }
    const { status, body } = await getJson("/v1/status");
    expect(status).toBe(200);
    expect(body.dead_letters.count).toBe(6);
    expect(body.dead_letters.recent).toHaveLength(DEAD_LETTERS_SHOWN);
    expect(body.dead_letters.recent.map((d: { plan_id: string }) => d.plan_id)).toEqual([
      "dead-f",
      "dead-e",
      "dead-d",
      "dead-c",
      "dead-b",
    ]);
    expect(body.dead_letters.recent[4]).toMatchObject({
      seq: 2,
      reason: "active_slots_positions_unavailable",
      attempts: 11,
      symbol: "BTCUSDT",
    });
  });

  it("an empty stream reads as count 0", async () => {
    const { body } = await getJson("/v1/status");
    expect(body.dead_letters).toEqual({ count: 0, recent: [] });
  });

  it("the dashboard lists them", async () => {
    await deliver(DLQ, [plan("dead-dash")]);
    const response = await exports.default.fetch(
      new Request("http://governor/", {
        headers: { authorization: `Bearer ${env.GOV_READ_TOKEN}`, accept: "text/html" },
      }),
    );
    const html = await response.text();
    expect(response.status).toBe(200);
    const section = html.slice(html.indexOf('id="dead-letters"'));
    expect(section).toMatch(/Dead letters <span class="count">1<\/span>/);
    expect(section).toContain("dead-dash");
    expect(section).toContain("unknown");
  });
});
