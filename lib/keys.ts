/**
 * Every Redis key and stream the governor touches, in one place (SPEC §3).
 * P = GOV_KEY_PREFIX. Names are a compatibility contract with the Apply Layer,
 * operators' scripts and dashboards: never rename.
 */
export function redisKeys(prefix: string) {
  const p = prefix;
  return {
    // Kept from the deployed system.
    applyPlanStream: `${p}:stream:apply.plan`,
    applyResultStream: `${p}:stream:apply.result`,
    eventsStream: `${p}:stream:governor.events`,
    policy: `${p}:policy:current`,
    rotationLock: (planId: string) => `${p}:rotation:lock:${planId}`,
    permit: (planId: string) => `${p}:permit:${planId}`,
    block: (planId: string) => `${p}:governor:block:${planId}`,
    // Governor-owned state (documented in the README).
    /** zset: member = lock plan_id, score = created_at (unix s). */
    lockIndex: `${p}:rotation:locks`,
    /** hash: close symbol -> lock plan_id of the rotation that claimed it. */
    claims: `${p}:rotation:claims`,
    /** hash: symbol -> JSON {plan_id, expires_at}; a permit issued, position not yet visible. */
    reservations: `${p}:governor:reservations`,
    /** string (JSON): the final decision of a plan, for idempotent replays. */
    decision: (planId: string) => `${p}:governor:decision:${planId}`,
    /** hash: symbol -> JSON {plan_id, score, at}; the governor's own entry record. */
    entries: `${p}:governor:entries`,
    /** string (JSON): cached closed klines of one symbol and interval. */
    klines: (symbol: string, interval: string) => `${p}:governor:klines:${interval}:${symbol}`,
    /** string: unix ms until which Binance calls are refused (shared 429/418 backoff). */
    binanceBackoff: `${p}:governor:binance:backoff_until`,
    /** string: offset ms between Binance server time and local time. */
    binanceTimeOffset: `${p}:governor:binance:time_offset_ms`,
    /** zset: rotations started in the last hour (churn budget). */
    rotationLog: `${p}:rotation:log`,
    /** string (JSON): last correlation / margin figures for the status page. */
    lastGates: `${p}:governor:last_gates`,
    /** string: a short mutual-exclusion token so only one sweep runs at a time. */
    sweepMutex: `${p}:governor:sweep:mutex`,
  } as const;
}

export type RedisKeys = ReturnType<typeof redisKeys>;
