/**
 * The interval arithmetic the benchmark's own-cost figures rest on
 * (bench/own-cost.ts): the sequential round trips of a request, and the time
 * its dependency calls cover.
 */
import { describe, expect, it } from "vitest";
import { sequentialSteps, unionMs } from "../../bench/own-cost.ts";

const call = (started_at: number, ended_at: number) => ({ started_at, ended_at });

describe("dependency calls of one request", () => {
  it("count a call that starts after every earlier one ended as a new step", () => {
    // the state read and the account call together, then the deciding script
    expect(sequentialSteps([call(0, 50), call(1, 52), call(53, 100)])).toBe(2);
    expect(sequentialSteps([call(0, 50), call(50, 100), call(100, 150)])).toBe(3);
    expect(sequentialSteps([call(10, 20), call(0, 30)])).toBe(1);
    expect(sequentialSteps([])).toBe(0);
  });

  it("cover the union of their intervals, overlaps counted once", () => {
    expect(unionMs([call(0, 50), call(1, 52), call(60, 100)])).toBe(92);
    expect(unionMs([call(0, 100), call(10, 20)])).toBe(100);
    expect(unionMs([call(5, 6), call(0, 1)])).toBe(2);
    expect(unionMs([])).toBe(0);
  });
});
