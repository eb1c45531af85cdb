import { beforeEach, describe, expect, it } from "vitest";
import { getJson, resetWorld } from "./helpers.ts";

describe("GET /v1/health", () => {
  beforeEach(resetWorld);

  it("reports Redis and the exchange reachable without leaking secrets", async () => {
    const { status, body } = await getJson("/v1/health");
    expect(status).toBe(200);
    expect(body.redis.reachable).toBe(true);
    expect(body.exchange.reachable).toBe(true);
    expect(JSON.stringify(body)).not.toMatch(/dev_[0-9a-f]{32}/);
  });
});
