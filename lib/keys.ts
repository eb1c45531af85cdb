/**
 * Every Redis key and stream the governor touches, in one place (docs/contract.md §8).
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
    /** zset: member = lock plan_id, score = created_at (unix ms). */
    lockIndex: `${p}:rotation:locks`,
    /** hash: lock plan_id -> close symbol the rotation claimed (its slot stays held). */
    claims: `${p}:rotation:claims`,
    /** hash: close_plan_id -> lock plan_id, for close plans still awaiting confirmation. */
    closePlans: `${p}:rotation:close_plans`,
    /** hash: incoming (new) symbol -> plan_id of the live rotation bringing it in (one per symbol). */
    incoming: `${p}:rotation:incoming`,
    /** hash: lock plan_id -> lock JSON; outlives the lock key, so an expired lock still times out. */
    lockData: `${p}:rotation:lock_data`,
    /** zset: close_plan_id -> unix ms it was last issued (24 h), to detect a reused id. */
    closePlanHistory: `${p}:rotation:close_plan_history`,
    /** hash: close_plan_id -> apply.result entry id that confirmed it. */
    confirmed: `${p}:rotation:confirmed`,
    /** string: last apply.result entry id read for confirmations (shared cursor). */
    resultCursor: `${p}:rotation:result_cursor`,
    /** hash: symbol -> JSON {plan_id, expires_at_ms, permit_until_ms}: the slot an entry ALLOW reserved. */
    reservations: `${p}:governor:reservations`,
    /** string (JSON {fingerprint, response}): the final decision of a plan, replayed for the same plan. */
    decision: (planId: string) => `${p}:governor:decision:${planId}`,
    /** hash: symbol -> JSON {plan_id, score, at}; the governor's own entry record. */
    entries: `${p}:governor:entries`,
    /** string (JSON): market cache of one symbol (regime and closes), until the next candle closes (the key keeps its historical `klines` name). */
    marketCache: (symbol: string, interval: string) => `${p}:governor:klines:${interval}:${symbol}`,
    /** string (JSON array): symbols open at the last evaluation, to prefetch their market caches. */
    openSymbols: `${p}:governor:open_symbols`,
    /** string: unix ms until which Binance calls are refused (shared 429/418 backoff). */
    binanceBackoff: `${p}:governor:binance:backoff_until`,
    /** string: offset ms between Binance server time and local time. */
    binanceTimeOffset: `${p}:governor:binance:time_offset_ms`,
    /** hash: symbol -> LOT_SIZE stepSize from exchangeInfo; expires at the end of the UTC day. */
    stepSizes: `${p}:governor:binance:step_sizes`,
    /** string: consecutive 403/418/429 answers; each doubles the next backoff (TTL: backoff + 10 min). */
    binanceStrikes: `${p}:governor:binance:backoff_strikes`,
    /** zset: rotations started in the last hour (churn budget). */
    rotationLog: `${p}:rotation:log`,
    /** string (JSON): last correlation / margin figures for the status page. */
    lastGates: `${p}:governor:last_gates`,
    /** hash: metric series -> count, incremented by the deciding scripts (docs/contract.md §10). */
    metrics: `${p}:governor:metrics`,
    /** hash per unix minute: decisions by outcome, slots, rotations of that minute; expires after 25 h. */
    history: (minute: number | string) => `${p}:governor:history:${minute}`,
    /** string: the last `X-MBX-USED-WEIGHT-1M` Binance answered with; expires after a minute. */
    binanceUsedWeight: `${p}:governor:binance:used_weight_1m`,
    /** string, TTL 300 s: the cron delivery for this scheduled time (unix ms) already ran. */
    sweepGuard: (scheduledTimeMs: number) => `${p}:governor:sweep:${scheduledTimeMs}`,
    /** stream (MAXLEN ~1000): dead letters of the plans queue, with why they died. */
    deadLetters: `${p}:governor:dead_letters`,
    /** string: dead letters recorded so far (the `seq` of the newest entry). */
    deadLetterCount: `${p}:governor:dead_letters:count`,
    /** string (JSON), TTL 1 day: why the queue last retried a plan (read when it dies). */
    queueRetry: (planId: string) => `${p}:governor:queue:retry:${planId}`,
    /** string, TTL 120 s: Binance weight the queue reserved in this minute (unix minutes). */
    queueWeight: (minute: number) => `${p}:governor:queue:weight:${minute}`,
    // Operators' controls (docs/contract.md §9).
    /** string (JSON {state, reason, actor, at}): ACTIVE / REDUCING / HALTED; absent = ACTIVE. */
    tradingState: `${p}:governor:trading_state`,
    /** hash: bucket start (unix ms) -> highest totalMarginBalance seen in it (drawdown breaker). */
    balancePeaks: `${p}:governor:drawdown:peaks`,
    /** stream: alerts waiting for delivery to GOV_ALERT_WEBHOOK_URL (bounded). */
    alertOutbox: `${p}:governor:alerts:outbox`,
    /** hash: outbox entry id -> JSON {attempts, next_at_ms, lease_until_ms}: delivery retries. */
    alertAttempts: `${p}:governor:alerts:attempts`,
    /** hash: incident key -> JSON {since_ms, ending_since_ms?, ...}: one alert per incident. */
    alertIncidents: `${p}:governor:alerts:incidents`,
  } as const;
}

export type RedisKeys = ReturnType<typeof redisKeys>;
