import { LOCKS } from "./locks.ts";
import { PRELUDE } from "./prelude.ts";

/**
 * STATUS_VIEW (read-only; run with EVALSHA_RO, so Redis refuses any write):
 * the slots and rotations as the deciding scripts see them, for the status
 * view. ctx: { open_symbols? [..] (omitted when the exchange could not be
 * read), max_locks, max_pages }.
 *
 * - holders: slot_holders (drop=false) with each symbol's kind: rotation
 *   (claimed by a lock), position (open), reservation; and the live
 *   reservations.
 * - locks: the first max_locks indexed locks, oldest first, each with its
 *   lock_phase, the rule resolve_lock acts on. The apply.result entries the
 *   shared cursor has not reached yet (the next sweep reads them before it
 *   decides) are read dry first, so a confirmation among them counts.
 *
 * Returns { holders [[symbol, kind, plan_id|false]], holder_count,
 * reservations [[symbol, plan_id, expires_at_ms]], locks [[plan_id,
 * lock JSON|false, phase|false, confirmation_id|false]], locks_total,
 * results_read_to_end }. A lock whose key and copy are gone, whose key was
 * deleted (the next sweep cancels it) or that cannot be read comes as
 * [plan_id, false, false, false].
 */
export const STATUS_VIEW = `${PRELUDE}${LOCKS}
local read_to_end = scan_confirmations(ctx.max_pages, true)

local h = slot_holders(ctx.open_symbols or {}, false)
local holders, reservations = {}, {}
for symbol in pairs(h.set) do
  local kind, plan_id = 'position', false
  if h.claimed[symbol] then kind, plan_id = 'rotation', h.claimed[symbol]
  elseif not h.open[symbol] then kind, plan_id = 'reservation', h.reserved[symbol].plan_id or false end
  holders[#holders + 1] = { symbol, kind, plan_id }
end
for symbol, r in pairs(h.reserved) do
  reservations[#reservations + 1] = { symbol, r.plan_id or false, tonumber(r.expires_at_ms) }
end

local locks = {}
for _, pid in ipairs(redis.call('ZRANGE', K.lockIndex, 0, ctx.max_locks - 1)) do
  local row = { pid, false, false, false }
  local read, lock = pcall(live_lock, pid)
  if read and lock then
    local judged, phase, confirmation_id = pcall(lock_phase, pid, lock, ctx.open_symbols)
    if judged then row = { pid, cjson.encode(lock), phase, confirmation_id or false } end
  end
  locks[#locks + 1] = row
end

return cjson.encode({ holders = holders, holder_count = h.count, reservations = reservations,
                      locks = locks, locks_total = redis.call('ZCARD', K.lockIndex),
                      results_read_to_end = read_to_end })
`;
