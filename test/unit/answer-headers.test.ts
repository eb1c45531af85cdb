/**
 * answerHeaders (lib/http/middleware.ts) on a bare app: an answer made with
 * the context gets the headers as it is made, one a route built itself gets
 * them afterwards. The governor's own routes: test/workers/logs.test.ts.
 */
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { answerHeaders, type AppEnv } from "../../lib/http/middleware.ts";

const app = new Hono<AppEnv>();
app.use("*", answerHeaders);
app.get("/json", (c) => c.json({ id: c.get("requestId") }));
app.get("/raw", () => new Response("raw", { headers: { "x-frame-options": "DENY" } }));

describe("answerHeaders", () => {
  it.each(["/json", "/raw"])("gives %s the request id and the security headers", async (path) => {
    const answer = await app.request(path, { headers: { "x-request-id": "caller-7" } });
    expect(answer.headers.get("x-request-id")).toBe("caller-7");
    expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
    expect(answer.headers.get("x-frame-options")).toBe("SAMEORIGIN");
    expect(answer.headers.get("referrer-policy")).toBe("no-referrer");
    expect(answer.headers.get("strict-transport-security")).toMatch(/^max-age=/);
  });

  it("replaces a malformed caller id with its own, the one the handler sees", async () => {
    const answer = await app.request("/json", { headers: { "x-request-id": "bad id!" } });
    const id = answer.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await answer.json()).toEqual({ id });
  });
});
