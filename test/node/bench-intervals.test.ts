/**
 * The interval arithmetic the benchmark's own-cost figures rest on
 * (bench/own-cost.ts): the sequential round trips of a request, and the time
 * its dependency calls cover, and its stages.
 */
import { describe, expect, it } from "vitest";
import { roundOrder, sequentialSteps, stagesOf, unionMs } from "../../bench/own-cost.ts";

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

  it("cut a request at its two Redis calls, the account call's answer awaited", () => {
    // window 0-20; state read 3-8 and account call 4-9; deciding script 11-15
    expect(stagesOf([0, 20], [call(11, 15), call(3, 8)], [call(4, 9)])).toEqual({
      head: 3,
      read: 5,
      mid: 2,
      slots: 4,
      tail: 5,
    });
    // an account call that answered first: mid starts at the state read's answer
    expect(stagesOf([0, 20], [call(3, 8), call(11, 15)], [call(4, 6)])?.mid).toBe(3);
    // not an evaluation's two calls: no stages
    expect(stagesOf([0, 20], [call(3, 8)], [])).toBeUndefined();
  });
});

describe("the own-cost comparison's rounds", () => {
  /** How often each target ran right after each other one, over `rounds` rounds in a row. */
  const followers = (rounds: number, targets: number) => {
    const sequence = Array.from({ length: rounds }, (_, round) =>
      roundOrder(round, targets),
    ).flat();
    const pairs = new Map<string, number>();
    for (let i = 1; i < sequence.length; i++) {
      const pair = `${sequence[i - 1]}>${sequence[i]}`;
      pairs.set(pair, (pairs.get(pair) ?? 0) + 1);
    }
    return pairs;
  };

  it("run each target once per round, and right after each other one equally often", () => {
    expect([0, 1, 2, 3].map((round) => roundOrder(round, 3))).toEqual([
      [0, 1, 2],
      [0, 2, 1],
      [0, 1, 2],
      [0, 2, 1],
    ]);
    // 200 rounds of three, the boundaries between rounds included: six pairs,
    // none a target after itself, each 99 or 100 times.
    const three = followers(200, 3);
    expect([...three.keys()].sort()).toEqual(["0>1", "0>2", "1>0", "1>2", "2>0", "2>1"]);
    for (const n of three.values()) expect(n).toBeGreaterThanOrEqual(99);
    expect([...followers(200, 2).entries()].sort()).toEqual([
      ["0>1", 200],
      ["1>0", 199],
    ]);
    expect(roundOrder(7, 1)).toEqual([0]);
    expect(() => roundOrder(0, 4)).toThrow(RangeError);
  });
});
