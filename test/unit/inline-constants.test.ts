import { describe, expect, it } from "vitest";
import { REASONS } from "../../lib/plans/reasons.ts";
import { BASE_PRELUDE, inlineConstants, SCRIPT_KEY_NAMES } from "../../lib/rotation/lua/prelude.ts";
import { SCRIPTS } from "../../lib/rotation/scripts.ts";
import { EVALUATE_SLOTS } from "../../lib/rotation/lua/evaluate-slots.ts";

describe("inlineConstants: the script text Redis runs", () => {
  const body = `\nif x then return R.overCapacity end\nreturn redis.call('HGET', K.entries, K.policy)\n`;
  const compiled = inlineConstants(`${BASE_PRELUDE}${body}`);

  it("replaces R.name by its reason code and K.name by KEYS[i]", () => {
    expect(compiled).toContain(`if x then return '${REASONS.overCapacity}' end`);
    const entries = SCRIPT_KEY_NAMES.indexOf("entries") + 1;
    const policy = SCRIPT_KEY_NAMES.indexOf("policy") + 1;
    expect(compiled).toContain(`redis.call('HGET', KEYS[${entries}], KEYS[${policy}])`);
  });

  it("drops the two tables, so no call builds them", () => {
    expect(compiled).not.toContain("local R = {");
    expect(compiled).not.toContain("local K = {}");
    expect(compiled).not.toMatch(/\bR\.[A-Za-z]/);
    expect(compiled).not.toMatch(/\bK\.[A-Za-z]/);
  });

  it("keeps every line where it was (Redis's line numbers are the source's)", () => {
    const source = `${BASE_PRELUDE}${body}`;
    expect(compiled.split("\n")).toHaveLength(source.split("\n").length);
    const last = source.split("\n").length - 2;
    expect(compiled.split("\n")[last]).toBe(
      `return redis.call('HGET', KEYS[${SCRIPT_KEY_NAMES.indexOf("entries") + 1}], KEYS[${SCRIPT_KEY_NAMES.indexOf("policy") + 1}])`,
    );
  });

  it("refuses an unknown reason or key instead of sending Redis a script that fails later", () => {
    expect(() => inlineConstants(`${BASE_PRELUDE}\nreturn R.noSuchReason\n`)).toThrow(
      "unknown reason R.noSuchReason",
    );
    expect(() => inlineConstants(`${BASE_PRELUDE}\nreturn K.noSuchKey\n`)).toThrow(
      "unknown key K.noSuchKey",
    );
  });

  it("leaves a script without the prelude as written", () => {
    expect(inlineConstants("return R.x")).toBe("return R.x");
  });

  it("is what the registry sends", () => {
    expect(SCRIPTS.evaluateSlots.source).toBe(inlineConstants(EVALUATE_SLOTS));
    for (const script of Object.values(SCRIPTS)) {
      expect(script.source, script.name).not.toMatch(/\b[RK]\.[A-Za-z]/);
    }
  });
});
