import { env, exports } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../functions/index.ts";
import {
  bridge,
  postRaw,
  redis,
  resetWorld,
  setRegime,
  setUniverse,
  signedHeaders,
} from "./helpers.ts";

const VALID = {
  plan_id: "bad-req-1",
  symbol: "BTCUSDT",
  action: "OPEN",
  decision: "EXECUTE",
  side: "LONG",
  qty: 0.01,
  score: 2,
};

interface ErrorAnswer {
  status: number;
  body: { error: { code: string; message: string; issues?: unknown } };
}

async function answer(response: Response): Promise<ErrorAnswer> {
  expect(response.headers.get("content-type") ?? "").toMatch(/application\/json/);
  return { status: response.status, body: (await response.json()) as ErrorAnswer["body"] };
}

/** POST a raw body signed correctly. */
async function postSigned(rawBody: string): Promise<ErrorAnswer> {
  return answer(await postRaw(rawBody, await signedHeaders(rawBody)));
}

describe("POST /v1/plans: requests refused before any evaluation", () => {
  let dbsizeBefore: number;

  beforeEach(async () => {
    await resetWorld();
    await setUniverse(["BTCUSDT", "ETHUSDT"]);
    await setRegime("BTCUSDT", "BASE");
    dbsizeBefore = await redis.dbsize();
    await bridge("POST", "reset");
  });

  /** Nothing reached Redis: no request from the worker, and no key was written. */
  async function expectNothingWritten(): Promise<void> {
    expect((await bridge("GET", "stats")).requests).toBe(0);
    expect(await redis.dbsize()).toBe(dbsizeBefore);
  }

  it("answers 400 invalid_json to a signed body that is not JSON", async () => {
    const { status, body } = await postSigned("plan_id=x&symbol=BTCUSDT");
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: "invalid_json", message: expect.any(String) });
    await expectNothingWritten();
  });

  it.each([
    ["a lowercase symbol", { symbol: "btcusdt" }, "symbol"],
    ["a plan_id with spaces", { plan_id: "bad plan id" }, "plan_id"],
    ["qty as a string", { qty: "0.01" }, "qty"],
    ["side UP", { side: "UP" }, "side"],
    ["a missing action", { action: undefined }, "action"],
    ["reduceOnly as a string", { reduceOnly: "true" }, "reduceOnly"],
  ])("answers 400 invalid_plan with issues to %s", async (_name, change, field) => {
    const { status, body } = await postSigned(JSON.stringify({ ...VALID, ...change }));
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: "invalid_plan", message: expect.any(String) });
    expect(Array.isArray(body.error.issues)).toBe(true);
    const issues = body.error.issues as { path: unknown[] }[];
    expect(issues.length).toBeGreaterThan(0);
    expect(issues.map((i) => i.path[0])).toContain(field);
    await expectNothingWritten();
  });

  it("answers 400 to a JSON body that is not an object", async () => {
    const { status, body } = await postSigned(JSON.stringify([VALID]));
    expect(status).toBe(400);
    expect(body.error.code).toBe("invalid_plan");
    await expectNothingWritten();
  });

  it("answers 413 to a body over 16 KiB", async () => {
    const rawBody = JSON.stringify({ ...VALID, padding: "x".repeat(17 * 1024) });
    const { status, body } = await postSigned(rawBody);
    expect(status).toBe(413);
    expect(body.error).toMatchObject({ code: "payload_too_large", message: expect.any(String) });
    await expectNothingWritten();
  });

  it("answers 413 to a streamed body over 16 KiB that declares no length", async () => {
    const rawBody = JSON.stringify({ ...VALID, padding: "x".repeat(17 * 1024) });
    const bytes = new TextEncoder().encode(rawBody);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 4096) controller.enqueue(bytes.slice(i, i + 4096));
        controller.close();
      },
    });
    const request = new Request("http://governor/v1/plans", {
      method: "POST",
      headers: await signedHeaders(rawBody),
      body: stream,
    });
    expect(request.headers.get("content-length")).toBeNull();
    const { status, body } = await answer(await exports.default.fetch(request));
    expect(status).toBe(413);
    expect(body.error.code).toBe("payload_too_large");
    await expectNothingWritten();
  });

  it("refuses with 503 config_invalid when no webhook secret is configured (never open)", async () => {
    const rawBody = JSON.stringify(VALID);
    const response = await worker.fetch(
      new Request("http://governor/v1/plans", {
        method: "POST",
        headers: await signedHeaders(rawBody),
        body: rawBody,
      }),
      Object.assign({}, env, { GOV_WEBHOOK_SECRET: "" }),
      createExecutionContext(),
    );
    const { status, body } = await answer(response);
    expect(status).toBe(503);
    expect(body.error).toMatchObject({ code: "config_invalid" });
    expect(body.error.message).toMatch(/GOV_WEBHOOK_SECRET/);
    expect(JSON.stringify(body)).not.toContain(env.GOV_READ_TOKEN!);
    expect(JSON.stringify(body)).not.toContain(env.BINANCE_API_SECRET!);
    await expectNothingWritten();
  });

  it("answers 401 when the signature headers are missing", async () => {
    const rawBody = JSON.stringify(VALID);
    const { status, body } = await answer(
      await postRaw(rawBody, { "content-type": "application/json" }),
    );
    expect(status).toBe(401);
    expect(body.error).toMatchObject({ code: "unauthorized", message: expect.any(String) });
    await expectNothingWritten();
  });

  it("answers 401 when only the timestamp header is present", async () => {
    const rawBody = JSON.stringify(VALID);
    const headers = await signedHeaders(rawBody);
    const { status } = await answer(
      await postRaw(rawBody, {
        "content-type": headers["content-type"],
        "x-governor-timestamp": headers["x-governor-timestamp"],
      }),
    );
    expect(status).toBe(401);
    await expectNothingWritten();
  });

  it("answers 401 to a timestamp 301 s in the past", async () => {
    const rawBody = JSON.stringify(VALID);
    const timestamp = Math.floor(Date.now() / 1000) - 301;
    const { status, body } = await answer(
      await postRaw(rawBody, await signedHeaders(rawBody, { timestamp })),
    );
    expect(status).toBe(401);
    expect(body.error.code).toBe("unauthorized");
    await expectNothingWritten();
  });

  // The exact ±300 s boundary is checked with fixed instants in test/unit/auth.test.ts; here a
  // timestamp 301 s ahead would come within the window if the request took over a second.
  it("answers 401 to a timestamp 360 s in the future", async () => {
    const rawBody = JSON.stringify(VALID);
    const timestamp = Math.floor(Date.now() / 1000) + 360;
    const { status, body } = await answer(
      await postRaw(rawBody, await signedHeaders(rawBody, { timestamp })),
    );
    expect(status).toBe(401);
    expect(body.error.code).toBe("unauthorized");
    await expectNothingWritten();
  });

  it("answers 401 to a timestamp that is not unix seconds", async () => {
    const rawBody = JSON.stringify(VALID);
    const headers = await signedHeaders(rawBody);
    const { status } = await answer(
      await postRaw(rawBody, { ...headers, "x-governor-timestamp": "2026-01-01T00:00:00Z" }),
    );
    expect(status).toBe(401);
    await expectNothingWritten();
  });

  it("answers 401 to a signature made with the wrong secret", async () => {
    const rawBody = JSON.stringify(VALID);
    const { status, body } = await answer(
      await postRaw(rawBody, await signedHeaders(rawBody, { secret: "not-the-secret" })),
    );
    expect(status).toBe(401);
    expect(body.error.code).toBe("unauthorized");
    await expectNothingWritten();
  });

  it("answers 401 to a signature over a different body", async () => {
    const rawBody = JSON.stringify(VALID);
    const signedFor = JSON.stringify({ ...VALID, symbol: "ETHUSDT" });
    const { status, body } = await answer(await postRaw(rawBody, await signedHeaders(signedFor)));
    expect(status).toBe(401);
    expect(body.error.code).toBe("unauthorized");
    await expectNothingWritten();
  });

  it("answers 401 to a valid body signed with a different timestamp than the one sent", async () => {
    const rawBody = JSON.stringify(VALID);
    const now = Math.floor(Date.now() / 1000);
    const headers = await signedHeaders(rawBody, { timestamp: now - 10 });
    const { status } = await answer(
      await postRaw(rawBody, { ...headers, "x-governor-timestamp": String(now) }),
    );
    expect(status).toBe(401);
    await expectNothingWritten();
  });
});

describe("unknown routes", () => {
  it.each([
    ["GET", "/v1"],
    ["GET", "/v1/unknown"],
    ["DELETE", "/v1/plans/some-plan"],
  ])("answers 404 JSON to %s %s", async (method, path) => {
    const response = await exports.default.fetch(new Request(`http://governor${path}`, { method }));
    const { status, body } = await answer(response);
    expect(status).toBe(404);
    expect(body.error).toMatchObject({ code: "not_found", message: expect.any(String) });
  });
});
