/**
 * The OpenAPI document at /openapi.json is generated from the route definitions
 * and the zod schemas the governor validates with; /docs renders it.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getJson, postRaw } from "./helpers.ts";

const ROUTES: [method: string, path: string][] = [
  ["post", "/v1/plans"],
  ["get", "/v1/plans/{plan_id}"],
  ["get", "/v1/status"],
  ["get", "/v1/health"],
  ["get", "/"],
  ["get", "/openapi.json"],
  ["get", "/docs"],
  ["get", "/metrics"],
  ["get", "/v1/history"],
];

async function openApi(): Promise<Record<string, any>> {
  const response = await exports.default.fetch(new Request("http://governor/openapi.json"));
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, any>;
}

describe("GET /openapi.json", () => {
  it("documents every route", async () => {
    const doc = await openApi();
    expect(doc.openapi).toMatch(/^3\.1/);
    const documented = Object.entries(doc.paths as Record<string, object>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => [method, path]),
    );
    expect(documented.sort()).toEqual([...ROUTES].sort());
  });

  it("documents the history body and the metrics' text format", async () => {
    const doc = await openApi();
    const history = doc.paths["/v1/history"].get;
    expect(history.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: "window",
          in: "query",
          schema: expect.objectContaining({ enum: ["1h", "6h", "24h"] }),
        }),
      ]),
    );
    expect(history.responses["200"].content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/History",
    });
    expect(doc.components.schemas.History.required).toEqual(
      expect.arrayContaining(["decisions", "slots", "rotations"]),
    );
    expect(Object.keys(doc.paths["/metrics"].get.responses["200"].content)).toEqual([
      "text/plain; version=0.0.4",
    ]);
  });

  it("documents the plan with the schema the webhook validates with", async () => {
    const doc = await openApi();
    const plan = doc.components.schemas.Plan;
    expect(plan.required).toEqual(
      expect.arrayContaining(["plan_id", "symbol", "action", "decision"]),
    );
    expect(plan.properties.plan_id.pattern).toBe("^[A-Za-z0-9_.:-]{1,128}$");
    expect(plan.properties.symbol.pattern).toBe("^[A-Z0-9]{2,20}$");
    expect(plan.properties.side.enum).toEqual(["LONG", "SHORT", "BUY", "SELL"]);
    const post = doc.paths["/v1/plans"].post;
    expect(post.requestBody.content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/Plan",
    });
    expect(post.responses["200"].content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/Decision",
    });
    expect(Object.keys(post.responses).sort()).toEqual(["200", "400", "401", "409", "413", "503"]);
  });

  it("documents the decision, status and error bodies", async () => {
    const { schemas, securitySchemes } = (await openApi()).components;
    expect(schemas.Decision.properties.decision.enum).toEqual(["ALLOW", "BLOCK", "IGNORED"]);
    expect(Object.keys(schemas.Status.properties)).toEqual(
      expect.arrayContaining(["regime", "slots", "positions", "reservations", "locks", "events"]),
    );
    expect(schemas.Error.properties.error.required).toEqual(["code", "message"]);
    expect(Object.keys(securitySchemes).sort()).toEqual([
      "readToken",
      "readTokenQuery",
      "webhookSignature",
      "webhookTimestamp",
    ]);
  });

  it("needs no token and holds no secret", async () => {
    const text = JSON.stringify(await openApi());
    for (const secret of [env.GOV_READ_TOKEN!, env.GOV_WEBHOOK_SECRET!, env.BINANCE_API_SECRET!]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe("GET /docs", () => {
  it("renders every route and the plan schema as a self-contained HTML page", async () => {
    const response = await exports.default.fetch(new Request("http://governor/docs"));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await response.text();
    for (const [method, path] of ROUTES) {
      expect(html).toContain(`<code>${method.toUpperCase()} ${path}</code>`);
    }
    expect(html).toContain('id="schema-Plan"');
    expect(html).not.toMatch(/<script|https?:\/\/(?!governor)/);
  });
});

describe("routes keep their behaviour under the OpenAPI definitions", () => {
  it("does not validate the webhook body before its signature (401, not 400)", async () => {
    const response = await postRaw("{not json", { "content-type": "application/json" });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: { code: "unauthorized" } });
  });

  it("checks the read token before the plan_id (401), then the plan_id (400)", async () => {
    const unauthenticated = await exports.default.fetch(
      new Request("http://governor/v1/plans/bad%20id"),
    );
    expect(unauthenticated.status).toBe(401);
    const { status, body } = await getJson("/v1/plans/bad%20id");
    expect(status).toBe(400);
    expect(body).toEqual({
      error: { code: "invalid_plan_id", message: "plan_id must be 1-128 of [A-Za-z0-9_.:-]" },
    });
  });
});
