/**
 * The OpenAPI document at /openapi.json is generated from the route definitions
 * and the zod schemas the governor validates with; /docs renders it.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getJson, postRaw, signedHeaders } from "./helpers.ts";
import { ERROR_CODES } from "../../lib/http/errors.ts";
import { SIGNATURE_MAX_SKEW_S } from "../../lib/http/auth.ts";
import { REASONS } from "../../lib/plans/reasons.ts";

const ROUTES: [method: string, path: string][] = [
  ["post", "/v1/plans"],
  ["get", "/v1/plans/{plan_id}"],
  ["get", "/v1/status"],
  ["get", "/v1/health"],
  ["get", "/v1/trading-state"],
  ["put", "/v1/trading-state"],
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
    expect(Object.keys(post.responses).sort()).toEqual([
      "200",
      "400",
      "401",
      "409",
      "413",
      "500",
      "503",
    ]);
  });

  it("documents the decision, status and error bodies", async () => {
    const { schemas, securitySchemes } = (await openApi()).components;
    expect(schemas.Decision.properties.decision.enum).toEqual(["ALLOW", "BLOCK", "IGNORED"]);
    expect(Object.keys(schemas.Status.properties)).toEqual(
      expect.arrayContaining(["regime", "slots", "positions", "reservations", "locks", "events"]),
    );
    expect(schemas.Error.properties.error.required).toEqual(["code", "message"]);
    expect(Object.keys(securitySchemes).sort()).toEqual([
      "adminToken",
      "readToken",
      "readTokenQuery",
      "webhookSignature",
      "webhookTimestamp",
    ]);
  });

  it("documents the trading state routes: the admin token to change it, a reason required", async () => {
    const doc = await openApi();
    const put = doc.paths["/v1/trading-state"].put;
    expect(put.security).toEqual([{ adminToken: [] }]);
    expect(Object.keys(put.responses).sort()).toEqual([
      "200",
      "400",
      "401",
      "403",
      "413",
      "500",
      "503",
    ]);
    const change = doc.components.schemas.TradingStateChange;
    expect(change.required).toEqual(["state", "reason"]);
    expect(change.properties.state.enum).toEqual(["ACTIVE", "REDUCING", "HALTED"]);
    expect(change.properties.reason).toMatchObject({ minLength: 1, maxLength: 200 });
    expect(doc.paths["/v1/trading-state"].get.security).toEqual([
      { readToken: [] },
      { adminToken: [] },
    ]);
  });

  it("needs no token and holds no secret", async () => {
    const text = JSON.stringify(await openApi());
    for (const secret of [
      env.GOV_READ_TOKEN!,
      env.GOV_ADMIN_TOKEN!,
      env.GOV_WEBHOOK_SECRET!,
      env.BINANCE_API_SECRET!,
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});

/** The `error.code` values a route documents for one status (undefined: none documented). */
function documentedCodes(doc: Record<string, any>, method: string, path: string, status: number) {
  const content = doc.paths[path]?.[method]?.responses?.[String(status)]?.content;
  const schema = content?.["application/json"]?.schema;
  const variants: any[] = schema?.anyOf ?? [schema];
  const codes = variants.flatMap((v) => v?.properties?.error?.properties?.code?.enum ?? []);
  return codes.length > 0 ? (codes as string[]) : undefined;
}

describe("the document is precise enough to generate a client from", () => {
  it("types `reason` as the reason table, in its order", async () => {
    const reason = (await openApi()).components.schemas.Decision.properties.reason;
    expect(reason.type).toBe("string");
    expect(reason.enum).toEqual(Object.values(REASONS));
    expect(reason.description).toMatch(/never renamed/);
  });

  it("lists the error codes of every error answer of every route; with not_found, every code there is", async () => {
    const doc = await openApi();
    const listed = new Set<string>(["not_found"]); // unknown routes, described in info
    for (const [method, path] of ROUTES) {
      const responses = doc.paths[path][method].responses as Record<string, unknown>;
      for (const status of Object.keys(responses).filter((s) => Number(s) >= 400)) {
        const codes = documentedCodes(doc, method, path, Number(status));
        expect(codes, `${method} ${path} ${status}`).toBeDefined();
        for (const code of codes!) listed.add(code);
      }
      expect(Object.keys(responses), `${method} ${path}`).toContain("500");
    }
    expect([...listed].sort()).toEqual(Object.values(ERROR_CODES).sort());
    expect(doc.info.description).toContain("`not_found`");
  });

  it("gives the webhook's signature headers, their algorithm and window, where generators look", async () => {
    const doc = await openApi();
    const post = doc.paths["/v1/plans"].post;
    const headers = Object.fromEntries(
      (post.parameters as any[]).filter((p) => p.in === "header").map((p) => [p.name, p]),
    );
    expect(headers["X-Governor-Timestamp"]).toMatchObject({
      required: true,
      schema: { type: "string", pattern: "^[0-9]{1,12}$" },
    });
    expect(headers["X-Governor-Timestamp"].description).toContain(`${SIGNATURE_MAX_SKEW_S} s`);
    expect(headers["X-Governor-Signature"]).toMatchObject({
      required: true,
      schema: { type: "string", pattern: "^[0-9a-fA-F]{64}$" },
    });
    expect(headers["X-Governor-Signature"].description).toMatch(
      /HMAC-SHA256 in hex.*`\{X-Governor-Timestamp\}\.\{raw request body\}`/,
    );
    const { webhookTimestamp, webhookSignature } = doc.components.securitySchemes;
    expect(webhookTimestamp).toMatchObject({
      type: "apiKey",
      in: "header",
      name: "X-Governor-Timestamp",
    });
    expect(webhookSignature).toMatchObject({
      type: "apiKey",
      in: "header",
      name: "X-Governor-Signature",
    });
    expect(webhookSignature.description).toBe(headers["X-Governor-Signature"].description);
    expect(post.security).toEqual([{ webhookTimestamp: [], webhookSignature: [] }]);
  });

  it("documents the code each error answer actually carries", async () => {
    const doc = await openApi();
    const valid = JSON.stringify({
      plan_id: "doc-1",
      symbol: "BTCUSDT",
      action: "OPEN",
      decision: "EXECUTE",
    });
    const notJson = "{not json";
    const notPlan = JSON.stringify({ plan_id: "doc 1" });
    const huge = JSON.stringify({ pad: "x".repeat(20_000) });
    const answers: [method: string, path: string, response: Response][] = [
      ["post", "/v1/plans", await postRaw(valid, { "content-type": "application/json" })],
      ["post", "/v1/plans", await postRaw(notJson, await signedHeaders(notJson))],
      ["post", "/v1/plans", await postRaw(notPlan, await signedHeaders(notPlan))],
      ["post", "/v1/plans", await postRaw(huge, await signedHeaders(huge))],
      ["get", "/v1/status", await exports.default.fetch(new Request("http://governor/v1/status"))],
      [
        "get",
        "/v1/plans/{plan_id}",
        await exports.default.fetch(
          new Request("http://governor/v1/plans/bad%20id", {
            headers: { authorization: `Bearer ${env.GOV_READ_TOKEN}` },
          }),
        ),
      ],
    ];
    const seen: string[] = [];
    for (const [method, path, response] of answers) {
      const { error } = (await response.json()) as { error: { code: string } };
      expect(documentedCodes(doc, method, path, response.status), `${method} ${path}`).toContain(
        error.code,
      );
      seen.push(`${response.status} ${error.code}`);
    }
    expect(seen).toEqual([
      "401 unauthorized",
      "400 invalid_json",
      "400 invalid_plan",
      "413 payload_too_large",
      "401 unauthorized",
      "400 invalid_plan_id",
    ]);
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
