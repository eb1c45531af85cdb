/**
 * Unix ms with sub-millisecond precision. The bridge and the simulators log
 * each request's start and end with it and the benchmark times its requests
 * with it, so the figures it lays side by side (bench/own-cost.ts) come from
 * one clock, however many processes.
 */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}
