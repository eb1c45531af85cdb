import { LOCKS } from "./locks.ts";
import { PRELUDE } from "./prelude.ts";

/**
 * SWEEP_CATCH_UP: the first step of a sweep. Reads apply.result onward from
 * the shared cursor (at most ctx.max_pages pages) and, with
 * ctx.drop_reservations, drops expired reservations.
 * Returns { caught_up, locks, reservations_dropped }.
 */
export const SWEEP_CATCH_UP = `${PRELUDE}${LOCKS}
local caught_up = scan_confirmations(ctx.max_pages)
local dropped = 0
if ctx.drop_reservations then
  local _, n = live_reservations(true)
  dropped = n
end
return cjson.encode({ caught_up = caught_up, locks = redis.call('ZCARD', K.lockIndex),
                      reservations_dropped = dropped })
`;

/**
 * READ_LOCKS (read-only): `ctx.batch` indexed locks from `ctx.offset`, oldest
 * first, as [plan_id, lock JSON or false, confirmed] triples, so the sweep can
 * run the gates for the plans whose close is confirmed before resolving them
 * (the other locks wait or time out: no gate is needed for that).
 */
export const READ_LOCKS = `${PRELUDE}${LOCKS}
local out = {}
for _, pid in ipairs(redis.call('ZRANGE', K.lockIndex, ctx.offset, ctx.offset + ctx.batch - 1)) do
  local lock = peek_lock(pid)
  out[#out + 1] = { pid, lock and cjson.encode(lock) or false,
                    lock ~= nil and close_state(lock, nil) ~= nil }
end
return cjson.encode(out)
`;

/**
 * SWEEP_LOCKS: resolve the locks the sweep read, with the gates' verdict for
 * each (see resolve_lock). ctx: { plan_ids [..], verdicts {plan_id: verdict},
 * open_symbols? [..], caught_up }. A lock gone entirely (key
 * and copy) is dropped from the index with its claim.
 */
export const SWEEP_LOCKS = `${PRELUDE}${LOCKS}
local stats = { checked = 0, completed = 0, timed_out = 0, cancelled = 0, orphans = 0,
                waiting = 0, completed_plans = {} }
local seen = { open_symbols = ctx.open_symbols, caught_up = ctx.caught_up }
for _, lock_pid in ipairs(ctx.plan_ids) do
  stats.checked = stats.checked + 1
  local lock = lock_of(lock_pid)
  if not lock then
    local close_symbol = redis.call('HGET', K.claims, lock_pid)
    -- Still indexed: gone without an event (key and copy deleted); it ends here, without
    -- an entry. (A lock lock_of just cancelled has left the index already.)
    if redis.call('ZREM', K.lockIndex, lock_pid) == 1 then count_rotation('not_granted') end
    redis.call('HDEL', K.claims, lock_pid)
    if close_symbol then
      local close_plan_id = close_plan_id_of(lock_pid, close_symbol)
      if redis.call('HGET', K.closePlans, close_plan_id) == lock_pid then
        redis.call('HDEL', K.closePlans, close_plan_id)
        redis.call('HDEL', K.confirmed, close_plan_id)
      end
    end
    stats.orphans = stats.orphans + 1
  else
    local verdict = ctx.verdicts[lock_pid]
    if verdict == cjson.null then verdict = nil end
    local outcome = resolve_lock(lock_pid, lock, verdict, seen)
    if outcome == 'complete' then
      stats.completed = stats.completed + 1
      stats.completed_plans[#stats.completed_plans + 1] = lock_pid
    elseif outcome == 'timeout' then stats.timed_out = stats.timed_out + 1
    elseif outcome == 'cancelled' then stats.cancelled = stats.cancelled + 1
    else stats.waiting = stats.waiting + 1 end
  end
end
return cjson.encode(stats)
`;
