/**
 * Waiting for an event instead of sleeping for a guessed time.
 *
 * `waitUntil(probe, what)` calls `probe` until it returns something other than
 * `undefined`, `null` or `false`, and returns that. A slow (busy) machine only
 * makes it wait longer: the limit is far above how long any of these events
 * takes, and exists only to fail with the name of the event that never
 * happened rather than with the test runner's bare timeout.
 */
export const WAIT_LIMIT_MS = 20_000;

export async function waitUntil<T>(
  probe: () => T | Promise<T>,
  what: string,
  { limitMs = WAIT_LIMIT_MS, everyMs = 20 }: { limitMs?: number; everyMs?: number } = {},
): Promise<Exclude<T, undefined | null | false>> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) {
      return value as Exclude<T, undefined | null | false>;
    }
    if (Date.now() - started > limitMs)
      throw new Error(`still waiting after ${limitMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
