import { LOCKS } from "./locks.ts";
import { PRELUDE } from "./prelude.ts";

/**
 * EVALUATE_SLOTS: the slot step of an entry, in one atomic step.
 * ctx: { plan {plan_id, symbol, score?, side?, ...}, fingerprint, desired,
 *        open_symbols [..], victims [{symbol, weakness, close_side?, qty?,
 *        position_side?, legs?, legs_json?, leg_count?}] weakest first (no
 *        legs: step size unknown), required_victim? {symbol, reason, details},
 *        threshold, max_rotations_per_hour, regime, shadow }
 */
export const EVALUATE_SLOTS = `${PRELUDE}${LOCKS}
local plan = ctx.plan
local pid, symbol = plan.plan_id, plan.symbol
local conflict = identity_conflict(pid, symbol)
if conflict then return conflict end
local replay = replay_if_final(pid)
if replay then return replay end

local h = slot_holders(ctx.open_symbols, true)
local desired = ctx.desired
observe_capacity(h.count, desired)
local function answer(decision, reason, extra)
  local r = { plan_id = pid, symbol = symbol, decision = decision, reason = reason,
              regime = ctx.regime, slots = { desired = desired, holders = h.count } }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end
local function decide(decision, reason, extra) return (finalize(answer(decision, reason, extra))) end

local function reserve_and_allow(reason)
  if not h.set[symbol] then h.set[symbol] = true; h.count = h.count + 1 end
  reserve(symbol, pid)
  if not h.open[symbol] or redis.call('HEXISTS', K.entries, symbol) == 0 then
    redis.call('HSET', K.entries, symbol,
      cjson.encode({ plan_id = pid, score = plan.score, at = now_s }))
  end
  return decide('ALLOW', reason)
end

-- A rotation already started for this plan: complete, time out, or keep waiting.
local lock = lock_of(pid)
if lock then
  local caught_up = scan_confirmations(20)
  local outcome, result = resolve_lock(pid, lock,
    { desired = desired, required_victim = ctx.required_victim },
    { open_symbols = ctx.open_symbols, caught_up = caught_up })
  if outcome ~= 'waiting' then return result end
  return decide('BLOCK', R.waitingRotationClose, { rotation = rotation_of(lock) })
end

-- The trading state (REDUCING, HALTED): no entry, no new rotation.
local state_reason = state_block()
if state_reason then return decide('BLOCK', state_reason) end
local outside = universe_block(symbol)
if outside then return decide('BLOCK', outside) end
-- The regime tightened: no entry at all (not even on a held symbol) until
-- positions close ("reducing").
if h.count > desired then return decide('BLOCK', R.overCapacity) end
-- The symbol is being rotated out: an entry would reopen what is being closed.
if h.claimed[symbol] then
  return decide('BLOCK', R.symbolRotatingOut, { details = { lock_plan_id = h.claimed[symbol] } })
end
-- One rotation per incoming symbol: another plan's rotation is bringing it in.
local inflight_pid = redis.call('HGET', K.incoming, symbol)
local inflight = inflight_pid and peek_lock(inflight_pid)
if inflight then
  return decide('BLOCK', R.rotationInFlight, { details = { lock_plan_id = inflight_pid,
    close_symbol = inflight.close_symbol, close_plan_id = inflight.close_plan_id } })
end

-- One open position is too correlated (or its correlation unknown): the entry may
-- only come in by rotating out exactly that position.
local required = ctx.required_victim
local function correlation_block()
  return decide('BLOCK', required.reason, { details = required.details })
end

if h.open[symbol] or h.reserved[symbol] then
  if required then return correlation_block() end
  return reserve_and_allow(R.symbolHoldsSlot)
end
if h.count < desired then
  if required then return correlation_block() end
  return reserve_and_allow(R.slotFree)
end

-- Slots full: rotate out the weakest open position that is neither claimed by
-- another rotation nor backed by a permit still in flight, if the candidate is
-- strong enough.
local victim
for _, v in ipairs(ctx.victims) do
  if not h.claimed[v.symbol] and not permit_in_flight(h, v.symbol) and v.symbol ~= symbol then
    victim = v; break
  end
end
if not victim then return decide('BLOCK', R.noRotationCandidate) end
if required and required.symbol ~= victim.symbol then return correlation_block() end
local entry_raw = redis.call('HGET', K.entries, victim.symbol)
local victim_score = 0
if entry_raw then
  local e = cjson.decode(entry_raw)
  if type(e.score) == 'number' then victim_score = e.score end
end
local min_score = (1 + ctx.threshold) * victim_score
if type(plan.score) ~= 'number' or plan.score < min_score then
  return decide('BLOCK', R.rotationBelowThreshold, { details = {
    victim = victim.symbol, victim_score = victim_score, required = min_score,
    score = plan.score } })
end
-- Churn budget: rotations started in the last hour.
redis.call('ZREMRANGEBYSCORE', K.rotationLog, '-inf', int(now_ms - 3600000))
if redis.call('ZCARD', K.rotationLog) >= ctx.max_rotations_per_hour then
  return decide('BLOCK', R.rotationBudget, { details = {
    max_per_hour = ctx.max_rotations_per_hour } })
end

local close_plan_id = close_plan_id_of(pid, victim.symbol)
if ctx.shadow then
  -- Shadow mode: the would-be rotation is recorded, no close plan is emitted.
  return decide('BLOCK', R.waitingRotationClose, { details = {
    close_symbol = victim.symbol, close_plan_id = close_plan_id } })
end
-- Close quantities need the symbol's step size (lib/rotation/victims.ts): unknown => no rotation.
if not victim.legs then
  return decide('BLOCK', R.positionsUnavailable, { details = {
    error = 'step_size_unknown', victim = victim.symbol } })
end
-- Plan ids sharing their first 8 characters share close plan ids: one still
-- live is never reused; one issued in the last 24 h is flagged (a late result
-- of the older rotation can only confirm the new one if the victim really is
-- closed, which is what the new rotation needs).
if redis.call('HEXISTS', K.closePlans, close_plan_id) == 1 then
  return decide('BLOCK', R.rotationInFlight, { details = {
    close_plan_id = close_plan_id, close_plan_id_in_use = true } })
end
redis.call('ZREMRANGEBYSCORE', K.closePlanHistory, '-inf', int(now_ms - 86400000))
local reused = redis.call('ZSCORE', K.closePlanHistory, close_plan_id) ~= false

local tail = redis.call('XREVRANGE', K.applyResultStream, '+', '-', 'COUNT', 1)
local scan_from = (tail[1] and tail[1][1]) or '0-0'
if redis.call('EXISTS', K.resultCursor) == 0 then redis.call('SET', K.resultCursor, scan_from) end
local new_lock = {
  new_symbol = symbol, new_plan_id = pid, close_symbol = victim.symbol,
  close_plan_id = close_plan_id, created_at = now_s, created_at_ms = now_ms,
  ttl_s = ttl.lock, scan_from = scan_from, new_score = plan.score,
  victim_weakness = victim.weakness, victim_score = victim_score,
  regime = ctx.regime, slots = { desired = desired, holders = h.count },
  key_expires_at = now_s + ttl.lock_redis,
  plan = plan, fingerprint = ctx.fingerprint, close_plan_id_reused = reused or nil }
local lock_json = cjson.encode(new_lock)
redis.call('SET', ctx.keys.lock .. pid, lock_json, 'EX', ttl.lock_redis)
redis.call('HSET', K.lockData, pid, lock_json)
redis.call('ZADD', K.lockIndex, int(now_ms), pid)
redis.call('HSET', K.claims, pid, victim.symbol)
redis.call('HSET', K.closePlans, close_plan_id, pid)
redis.call('HSET', K.incoming, symbol, pid)
redis.call('ZADD', K.closePlanHistory, int(now_ms), close_plan_id)
redis.call('ZADD', K.rotationLog, int(now_ms), pid)
-- side/position_side/qty: the first (one-way: only) leg; hedge mode with both sides
-- open adds legs (JSON array of {position_side, side, qty}) and leg_count.
local close_fields = {
  'plan_id', close_plan_id, 'symbol', victim.symbol, 'action', 'FULL_CLOSE_PROPOSED',
  'reduceOnly', 'true', 'decision', 'EXECUTE', 'rotation_trigger', 'true',
  'new_symbol', symbol, 'new_plan_id', pid, 'side', victim.close_side,
  'position_side', victim.position_side, 'qty', victim.qty, 'ts', int(now_ms)}
if victim.legs_json then
  with(close_fields, 'legs', victim.legs_json, 'leg_count', tostring(victim.leg_count))
end
redis.call('XADD', K.applyPlanStream, '*', unpack(close_fields))
local fields = lock_fields(new_lock)
if reused then with(fields, 'close_plan_id_reused', 'true') end
emit('ROTATION_LOCK_CREATED', fields)
count_rotation('started')
return decide('BLOCK', R.waitingRotationClose, { rotation = rotation_of(new_lock) })
`;
