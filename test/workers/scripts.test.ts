import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { governorContext } from "../../lib/context.ts";
import { scriptSha } from "../../lib/redis/scripts.ts";
import { inlineConstants, PRELUDE } from "../../lib/rotation/lua/prelude.ts";
import { scriptContext, scriptKeys, SCRIPTS } from "../../lib/rotation/scripts.ts";
import { keys, redis } from "./helpers.ts";

describe("Lua script registry", () => {
  for (const script of Object.values(SCRIPTS)) {
    it(`${script.name}: the SHA-1 used for EVALSHA is the one Redis computes`, async () => {
      expect(await redis.scriptLoad(script.source)).toBe(await scriptSha(script));
    });
  }
});

/**
 * The prelude keeps a copy of two reads for the length of one call (a plan's
 * decision cache, the incidents hash): each writer must keep that copy in
 * step, or a later read in the same call would answer what was there before.
 */
describe("the prelude's copies of what one call has read", () => {
  beforeEach(() => redis.flushall());
  const run = async (body: string, ctx: Record<string, unknown> = {}) => {
    const answer = await redis.eval(inlineConstants(`${PRELUDE}\n${body}`), scriptKeys(keys), [
      JSON.stringify({ ...scriptContext(governorContext(env)), ...ctx }),
    ]);
    return (typeof answer === "string" ? JSON.parse(answer) : answer) as Record<string, unknown>;
  };

  it("a decision written by finalize is what the same call reads back", async () => {
    const seen = await run(
      `local before = decision_of('p-memo')
finalize({ plan_id = 'p-memo', symbol = 'BTCUSDT', decision = 'ALLOW', reason = R.slotFree })
return cjson.encode({ before = before or false, after = decision_of('p-memo') or false,
  stored = redis.call('GET', ctx.keys.decision .. 'p-memo') })`,
      { fingerprint: "fp" },
    );
    expect(seen.before).toBe(false);
    expect(seen.stored).toContain('"decision":"ALLOW"');
    expect(seen.after).toBe(seen.stored);
  });

  it("an incident opened, then closed, in one call is stored and read as closed", async () => {
    const seen = await run(
      `incident_open('t:memo', 'test', 'warning', 'down', {})
local opened = incident_of('t:memo')
incident_close('t:memo', 'back', {})
return cjson.encode({ opened = opened or false, closed = incident_of('t:memo') or false,
  stored = redis.call('HGET', K.alertIncidents, 't:memo') or false })`,
    );
    expect(seen.opened).toContain('"kind":"test"');
    expect(seen.stored).toContain('"ending_since_ms"');
    expect(seen.closed).toBe(seen.stored);
  });

  it("an incident settled (deleted) in one call is read as gone", async () => {
    const seen = await run(
      `incident_open('t:gone', 'test', 'warning', 'down', {})
incident_close('t:gone', 'back', {})
return cjson.encode({ left = incident_of('t:gone') or false,
  stored = redis.call('HEXISTS', K.alertIncidents, 't:gone') })`,
      { alert_cooldown_s: 0 },
    );
    expect(seen.stored).toBe(0);
    expect(seen.left).toBe(false);
  });

  it("a write before any read leaves the other incidents readable", async () => {
    const long = Date.now() - 3_600_000;
    await redis.hset(keys.alertIncidents, {
      "t:due": JSON.stringify({
        kind: "test",
        since_ms: long,
        ending_since_ms: long,
        recovery: "back",
      }),
      "t:open": JSON.stringify({ kind: "test", since_ms: long }),
    });
    const seen = await run(
      `settle_incidents()
return cjson.encode({ due = incident_of('t:due') or false, open = incident_of('t:open') or false })`,
    );
    expect(seen.due).toBe(false);
    expect(seen.open).toContain('"since_ms"');
  });
});
