import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isFinal, REASONS } from "../../lib/plans/reasons.ts";

const contract = readFileSync(new URL("../../docs/contract.md", import.meta.url), "utf8");

/** Rows of the reason table: code -> [decision, final]. */
function reasonRows(): Map<string, [string, string]> {
  const rows = new Map<string, [string, string]>();
  for (const match of contract.matchAll(/^\| `(active_slots_[a-z_]+)` +\| (\w+) +\| (\w+) +\|/gm)) {
    rows.set(match[1]!, [match[2]!, match[3]!]);
  }
  return rows;
}

describe("docs/contract.md", () => {
  it("lists every reason code, with the finality the code applies", () => {
    const rows = reasonRows();
    expect([...rows.keys()].sort()).toEqual(Object.values(REASONS).sort());
    for (const [code, [decision, final]] of rows) {
      const decided = decision === "ALLOW" ? "ALLOW" : "BLOCK";
      expect(`${code}: ${final}`).toBe(
        `${code}: ${isFinal(decided, code as (typeof REASONS)[keyof typeof REASONS]) ? "yes" : "no"}`,
      );
    }
  });
});
