/**
 * Rotating GOV_WEBHOOK_SECRET without a gap (docs/deploy.md): while
 * GOV_WEBHOOK_SECRET_PREVIOUS holds the old secret, plans signed with either
 * are accepted; once it is removed, only the new one is.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { postPlan, resetWorld } from "./helpers.ts";

// postPlan signs with the test bindings' GOV_WEBHOOK_SECRET: here, the old secret.
const OLD = env.GOV_WEBHOOK_SECRET;
const NEW = "rotated-webhook-secret";
const ignored = (planId: string) => ({ plan_id: planId, symbol: "BTCUSDT", decision: "HOLD" });

describe("webhook secret rotation", () => {
  beforeEach(resetWorld);

  it("a plan signed with the old secret is accepted while it is the previous one", async () => {
    const answer = await postPlan(ignored("rotate-1"), {
      GOV_WEBHOOK_SECRET: NEW,
      GOV_WEBHOOK_SECRET_PREVIOUS: OLD,
    });
    expect(answer.status).toBe(200);
    expect(answer.body.decision).toBe("IGNORED");
  });

  it("once the previous secret is removed, the old one is refused", async () => {
    const answer = await postPlan(ignored("rotate-2"), { GOV_WEBHOOK_SECRET: NEW });
    expect(answer.status).toBe(401);
  });
});
