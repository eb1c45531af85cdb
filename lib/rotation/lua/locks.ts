/**
 * The rotation state machine's shared Lua: slot holders, confirmations, and
 * the transitions of a lock. Both the evaluation (EVALUATE_SLOTS) and the
 * sweep (SWEEP_LOCKS) resolve locks through `resolve_lock`, so an evaluation
 * and a sweep racing on one lock can never both complete (or both time out)
 * it: Redis runs each script alone, and the first one ends the lock.
 *
 * A lock is `P:rotation:lock:{plan_id}` (TTL longer than its logical timeout)
 * plus its copy in `P:rotation:lock_data`, which lives until the lock ends, so
 * a lock whose key expired unobserved still times out properly.
 */
import { CLOSE_PLAN_ID_LUA } from "../close-plan-id.ts";

export const LOCKS = `
-- Stream ids compare by (ms, seq).
local function id_after(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end

-- A lock as stored: its key, else the copy that outlives it.
local function peek_lock(pid)
  local raw = redis.call('GET', ctx.keys.lock .. pid) or redis.call('HGET', K.lockData, pid)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function lock_fields(lock)
  return {'new_symbol', lock.new_symbol, 'new_plan_id', lock.new_plan_id,
          'close_symbol', lock.close_symbol, 'close_plan_id', lock.close_plan_id}
end

local function with(fields, ...)
  local extra = {...}
  for i = 1, #extra do fields[#fields + 1] = extra[i] end
  return fields
end

local function rotation_of(lock)
  return { close_symbol = lock.close_symbol, close_plan_id = lock.close_plan_id,
           lock_age = now_s - lock.created_at }
end

-- The universe as it is now (the caller checked it before any Binance call;
-- this sees a change made since). Symbols are [A-Z0-9], so the quoted name
-- occurs in the JSON array exactly when the symbol is in it.
local function universe_block(symbol)
  local raw = redis.call('HGET', K.policy, 'universe_symbols')
  if not raw then return R.noPolicy end
  if not string.find(raw, '"' .. symbol .. '"', 1, true) then return R.notInUniverse end
  return nil
end

-- Advance the shared cursor over apply.result, paged. A result for the close
-- plan of a live lock, appended after the lock was created, confirms it only
-- when executed=true, reduceOnly=true and its symbol is the lock's close
-- symbol; any other such result is reported (ROTATION_CONFIRMATION_REJECTED).
-- Returns true when the stream has been read to its end.
-- dry: read-only (the status view): confirmations past the cursor are only
-- noted in unread_confirmations; nothing is written or emitted, the cursor
-- stays where it is.
local unread_confirmations = {}
local function scan_confirmations(max_pages, dry)
  local cursor = redis.call('GET', K.resultCursor) or '0-0'
  for _ = 1, max_pages do
    local page = redis.call('XRANGE', K.applyResultStream, '(' .. cursor, '+', 'COUNT', PAGE)
    for _, entry in ipairs(page) do
      local f = {}
      for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
      local lock_pid = f.plan_id and redis.call('HGET', K.closePlans, f.plan_id)
      local lock = lock_pid and peek_lock(lock_pid)
      if lock and id_after(entry[1], lock.scan_from) then
        local problem
        if f.executed ~= 'true' then problem = 'not_executed'
        elseif f.reduceOnly ~= 'true' then problem = 'not_reduce_only'
        elseif f.symbol ~= lock.close_symbol then problem = 'symbol_mismatch' end
        if dry then
          if not problem then unread_confirmations[f.plan_id] = entry[1] end
        elseif problem then
          emit('ROTATION_CONFIRMATION_REJECTED', with(lock_fields(lock),
            'reason', problem, 'result_id', entry[1], 'result_symbol', f.symbol or ''))
        else
          redis.call('HSET', K.confirmed, f.plan_id, entry[1])
        end
      end
      cursor = entry[1]
    end
    if not dry then redis.call('SET', K.resultCursor, cursor) end
    if #page < PAGE then return true end
  end
  return false
end

${CLOSE_PLAN_ID_LUA}

local function end_lock(lock_pid, lock)
  redis.call('DEL', ctx.keys.lock .. lock_pid)
  redis.call('HDEL', K.lockData, lock_pid)
  redis.call('ZREM', K.lockIndex, lock_pid)
  redis.call('HDEL', K.claims, lock_pid)
  if redis.call('HGET', K.closePlans, lock.close_plan_id) == lock_pid then
    redis.call('HDEL', K.closePlans, lock.close_plan_id)
    redis.call('HDEL', K.confirmed, lock.close_plan_id)
  end
  if redis.call('HGET', K.incoming, lock.new_symbol) == lock_pid then
    redis.call('HDEL', K.incoming, lock.new_symbol)
  end
end

-- A close plan that must no longer execute: an entry on apply.plan with the
-- same plan_id, decision CANCEL (never EXECUTE), so an Apply Layer drops it.
local function cancel_close_plan(lock, why)
  redis.call('XADD', K.applyPlanStream, '*',
    'plan_id', lock.close_plan_id, 'symbol', lock.close_symbol, 'action', 'CANCEL',
    'decision', 'CANCEL', 'reduceOnly', 'true', 'rotation_cancel', 'true', 'reason', why,
    'new_symbol', lock.new_symbol, 'new_plan_id', lock.new_plan_id, 'ts', int(now_ms))
end

-- Slot holders: open positions (the caller's snapshot), live reservations,
-- rotation claims; a symbol counts once. Reservations are kept until they
-- expire, even once their position is visible, so an evaluation holding an
-- older snapshot still counts the slot. drop: delete expired reservations.
local function live_reservations(drop)
  local live, dropped = {}, 0
  local rows = redis.call('HGETALL', K.reservations)
  for i = 1, #rows, 2 do
    local r = cjson.decode(rows[i + 1])
    if tonumber(r.expires_at_ms) <= now_ms then
      if drop then redis.call('HDEL', K.reservations, rows[i]) end
      dropped = dropped + 1
    else
      live[rows[i]] = r
    end
  end
  return live, dropped
end

local function slot_holders(open_symbols, drop)
  local h = { set = {}, count = 0, open = {}, reserved = {}, claimed = {} }
  local function hold(s) if not h.set[s] then h.set[s] = true; h.count = h.count + 1 end end
  for _, s in ipairs(open_symbols) do h.open[s] = true; hold(s) end
  for symbol, r in pairs(live_reservations(drop)) do h.reserved[symbol] = r; hold(symbol) end
  local rows = redis.call('HGETALL', K.claims)
  for i = 1, #rows, 2 do h.claimed[rows[i + 1]] = rows[i]; hold(rows[i + 1]) end
  return h
end

-- Every entry ALLOW backs its permit with a reservation of the symbol's slot.
-- permit_until_ms: while the permit may still open or add to the position.
local function reserve(symbol, pid)
  redis.call('HSET', K.reservations, symbol, cjson.encode({ plan_id = pid,
    expires_at_ms = now_ms + ttl.reservation * 1000, permit_until_ms = now_ms + ttl.permit * 1000 }))
end

-- A symbol whose permit is still usable must not be rotated out: the permit
-- would reopen it after the close.
local function permit_in_flight(h, symbol)
  local r = h.reserved[symbol]
  return r ~= nil and (tonumber(r.permit_until_ms) or math.huge) > now_ms
end

-- What the confirmation and the exchange say of the victim: 'closed'
-- (confirmed after the lock, and not open in the snapshot), 'open' (confirmed,
-- yet still open: a partial close, one leg of a hedge, a stale redelivery),
-- 'unknown' (confirmed, no snapshot), or nil (not confirmed). Also the id of
-- the confirming apply.result entry.
local function close_state(lock, open_symbols)
  local id = unread_confirmations[lock.close_plan_id]
    or redis.call('HGET', K.confirmed, lock.close_plan_id)
  if not id or not id_after(id, lock.scan_from) then return nil, nil end
  if not open_symbols then return 'unknown', id end
  for _, s in ipairs(open_symbols) do
    if s == lock.close_symbol then return 'open', id end
  end
  return 'closed', id
end

-- The phase of a live lock: the one rule by which resolve_lock acts and the
-- status view (STATUS_VIEW) reports, so the two cannot disagree.
--   'decided'              the plan's decision became final meanwhile: it is cancelled
--   'closed'               confirmed and the victim is gone: it completes
--   'expired'              past its TTL, no effective confirmation: it times out
--                          (once apply.result has been read to its end)
--   'victim_open'          confirmed, yet the snapshot shows the victim open: it waits
--   'confirmed_unverified' confirmed, no snapshot to check the victim: it waits
--   'waiting'              not confirmed yet: it waits
-- Also the confirming apply.result id and close_state's answer.
local function lock_phase(lock_pid, lock, open_symbols)
  if redis.call('EXISTS', ctx.keys.decision .. lock_pid) == 1 then return 'decided', nil, nil end
  local state, id = close_state(lock, open_symbols)
  if state == 'closed' then return 'closed', id, state end
  if now_s - lock.created_at > lock.ttl_s then return 'expired', id, state end
  if state == 'open' then return 'victim_open', id, state end
  if state == 'unknown' then return 'confirmed_unverified', id, state end
  return 'waiting', nil, nil
end

-- The plan's decision became final while its rotation waited (a gate blocked
-- a resubmission, or it was decided otherwise): the rotation ends without an
-- entry; an unconfirmed close plan is cancelled.
local function cancel_lock(lock_pid, lock, why)
  local state = close_state(lock, nil)
  end_lock(lock_pid, lock)
  if not state then cancel_close_plan(lock, why) end
  emit('ROTATION_CANCELLED', with(lock_fields(lock), 'reason', why,
    'confirmed', state and 'true' or 'false'))
  count_rotation('not_granted')
end

-- The live lock of a plan, for resolving it: its key; else, once the key
-- has expired unobserved, the copy (the lock is long past its TTL and will
-- time out). A key gone before it could expire was deleted (by an operator):
-- that lock ends here, without an entry (ROTATION_CANCELLED, 'lock_deleted').
-- live_lock reads it without acting: the lock, or nil and (key deleted) the copy.
local function live_lock(pid)
  local raw = redis.call('GET', ctx.keys.lock .. pid)
  if raw then return cjson.decode(raw), nil end
  raw = redis.call('HGET', K.lockData, pid)
  if not raw then return nil, nil end
  local lock = cjson.decode(raw)
  if now_s < (tonumber(lock.key_expires_at) or 0) then return nil, lock end
  return lock, nil
end

local function lock_of(pid)
  local lock, deleted = live_lock(pid)
  if deleted then cancel_lock(pid, deleted, 'lock_deleted') end
  return lock
end

-- Resolve one lock, by its phase (lock_phase). verdict: the gates on data as
-- of now, for the lock's plan ({desired, required_victim?} when they pass,
-- {block = {reason, details}} when one blocks, {unknown = reason} or nil
-- when they could not be evaluated). seen: {open_symbols (nil: no snapshot), caught_up (apply.result
-- read to its end)}. Returns the outcome ('waiting', 'complete', 'timeout',
-- 'cancelled') and, unless waiting, the JSON answer for the lock's plan.
--
--   decided   -> ROTATION_CANCELLED, the final decision replayed.
--   closed    -> ROTATION_COMPLETE: the claim ends; the entry is granted only
--                if every gate passes and holders stay within desired
--                (granted=false and a BLOCK otherwise). With no verdict the
--                lock waits until its TTL, then completes without an entry.
--   expired   -> with apply.result read to its end (so no confirmation is
--                missed): ROTATION_TIMEOUT, the close plan cancelled, final
--                BLOCK; else it keeps waiting.
--   otherwise -> it keeps waiting (a victim still open is reported once).
local function resolve_lock(lock_pid, lock, verdict, seen)
  local fp = lock.fingerprint
  local base = { plan_id = lock_pid, symbol = lock.new_symbol, regime = lock.regime,
                 slots = lock.slots, rotation = rotation_of(lock) }
  local phase, confirmation_id, state = lock_phase(lock_pid, lock, seen.open_symbols)
  if phase == 'decided' then
    cancel_lock(lock_pid, lock, 'final_decision')
    return 'cancelled', replay_if_final(lock_pid)
  end
  local age = now_s - lock.created_at
  if phase == 'closed' then
    local unknown = not verdict or verdict.unknown
    local by_state = state_block()   -- REDUCING or HALTED: the entry is not granted, whatever the gates say
    if unknown and age <= lock.ttl_s and not by_state then return 'waiting', nil end
    end_lock(lock_pid, lock)
    -- The victim is closed for good: its entry record and any reservation (whose
    -- permit had lapsed, or it would not have been chosen) go with it.
    redis.call('HDEL', K.entries, lock.close_symbol)
    redis.call('HDEL', K.reservations, lock.close_symbol)
    local reason, details = by_state or universe_block(lock.new_symbol), nil
    if reason then
    elseif unknown then
      reason = (verdict and verdict.unknown) or R.positionsUnavailable
      details = { error = 'the gates could not be evaluated at completion' }
    elseif verdict.block then
      reason, details = verdict.block.reason, verdict.block.details
    elseif verdict.required_victim then
      reason, details = verdict.required_victim.reason, verdict.required_victim.details
    else
      local h = slot_holders(seen.open_symbols, false)
      local after = h.count
      if not h.set[lock.new_symbol] then after = after + 1 end
      base.slots = { desired = verdict.desired, holders = after }
      if after > verdict.desired then reason = R.overCapacity end
    end
    local fields = with(lock_fields(lock), 'confirmation_id', confirmation_id,
      'granted', reason and 'false' or 'true')
    if reason then with(fields, 'reason', reason) end
    emit('ROTATION_COMPLETE', fields)
    count_rotation(reason and 'not_granted' or 'completed')
    if reason then
      base.decision = 'BLOCK'; base.reason = reason
      base.details = details or {}
      base.details.rotation_complete = true
      return 'complete', (finalize(base, fp))
    end
    reserve(lock.new_symbol, lock_pid)
    redis.call('HSET', K.entries, lock.new_symbol,
      cjson.encode({ plan_id = lock_pid, score = lock.new_score, at = now_s }))
    base.decision = 'ALLOW'; base.reason = R.rotationComplete
    return 'complete', (finalize(base, fp))
  end
  if phase == 'expired' and seen.caught_up then
    end_lock(lock_pid, lock)
    cancel_close_plan(lock, 'timeout')
    local fields = with(lock_fields(lock), 'lock_age', age)
    if state then with(fields, 'close_state', state) end
    emit('ROTATION_TIMEOUT', fields)
    count_rotation('timed_out')
    alert_rotation_timeout(lock, age)
    base.decision = 'BLOCK'; base.reason = R.rotationTimeout
    base.details = { lock_age = age, ttl = lock.ttl_s, close_state = state }
    return 'timeout', (finalize(base, fp))
  end
  if state == 'open' and not lock.reported_open then
    -- Once per lock: the Apply Layer says closed, the exchange says open.
    lock.reported_open = true
    redis.call('HSET', K.lockData, lock_pid, cjson.encode(lock))
    if redis.call('EXISTS', ctx.keys.lock .. lock_pid) == 1 then
      redis.call('SET', ctx.keys.lock .. lock_pid, cjson.encode(lock), 'KEEPTTL')
    end
    emit('ROTATION_CONFIRMATION_REJECTED', with(lock_fields(lock),
      'reason', 'victim_still_open', 'result_id', confirmation_id))
  end
  return 'waiting', nil
end
`;
