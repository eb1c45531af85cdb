import { describe, expect, it } from "vitest";
import { scriptSha } from "../../lib/redis/scripts.ts";
import { SCRIPTS } from "../../lib/rotation/scripts.ts";
import { redis } from "./helpers.ts";

describe("Lua script registry", () => {
  for (const script of Object.values(SCRIPTS)) {
    it(`${script.name}: the SHA-1 used for EVALSHA is the one Redis computes`, async () => {
      expect(await redis.scriptLoad(script.source)).toBe(await scriptSha(script));
    });
  }
});
