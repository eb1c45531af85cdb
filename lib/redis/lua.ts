/**
 * Every atomic Redis step of the governor, as named Lua scripts in one place.
 *
 * All scripts take the same fixed KEYS (see SCRIPT_KEYS) and one ARGV: a JSON
 * context `ctx` built in TypeScript (lib/redis/scripts.ts). Keys of one plan
 * (lock, permit, block, decision) are built from the prefixes in ctx.keys so the
 * names live only in lib/keys.ts. Each script returns one JSON string.
 *
 * Redis runs a script alone, so each transition below (reserve a slot, create
 * a lock, complete or time out a lock) is conditional and atomic: an evaluation
 * and a sweep racing on one lock can never both complete it.
 */

import { isFinal, REASONS } from "../plans/reasons.ts";

/** Reason codes as a Lua table (R.overCapacity, ...): one source, lib/plans/reasons.ts. */
const LUA_REASONS = `local R = {
${Object.entries(REASONS)
  .map(([name, code]) => `  ${name} = '${code}',`)
  .join("\n")}
}
-- BLOCK reasons that are not final (SPEC §5 step 1): the plan may be re-evaluated.
local NON_FINAL = {
${Object.values(REASONS)
  .filter((code) => !isFinal("BLOCK", code))
  .map((code) => `  ['${code}'] = true,`)
  .join("\n")}
}`;

/** Order of KEYS for every script. */
export const SCRIPT_KEY_NAMES = [
  "reservations",
  "claims",
  "lockIndex",
  "closePlans",
  "confirmed",
  "resultCursor",
  "applyPlanStream",
  "applyResultStream",
  "eventsStream",
  "entries",
  "rotationLog",
] as const;

const PRELUDE = `
${LUA_REASONS}
local K = {}
for i, name in ipairs({${SCRIPT_KEY_NAMES.map((n) => `'${n}'`).join(", ")}}) do K[name] = KEYS[i] end
local ctx = cjson.decode(ARGV[1])
local now_ms = tonumber(ctx.now_ms)          -- ms, the caller's clock
local now_s = math.floor(now_ms / 1000)      -- s
local ttl = ctx.ttl                          -- s: permit, block, decision, reservation, lock, lock_redis
local PAGE = 500                             -- entries per XRANGE page

local function int(x) return string.format('%.0f', x) end

-- A decision its caller no longer waits for must not take effect: past
-- ctx.deadline_ms (unix ms) the client has timed out and answered 503.
if ctx.deadline_ms then
  local t = redis.call('TIME')
  local redis_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if redis_ms > tonumber(ctx.deadline_ms) then return cjson.encode({ late = true }) end
end

local function emit(event, fields)
  local args = {K.eventsStream, 'MAXLEN', '~', '100000', '*', 'event', event, 'ts', int(now_ms)}
  if ctx.shadow then fields[#fields + 1] = 'shadow'; fields[#fields + 1] = 'true' end
  for i = 1, #fields do args[#args + 1] = tostring(fields[i]) end
  return redis.call('XADD', unpack(args))
end

-- Write the decision of one plan: permit or block record, event, and (when
-- final: every ALLOW, and every BLOCK not in NON_FINAL) the decision cache
-- that makes replays idempotent. In shadow mode a
-- BLOCK is recorded as it would be (block record, PLAN_BLOCKED marked
-- shadow=true) and the entry gets its permit anyway.
local function write_permit(response)
  redis.call('SET', ctx.keys.permit .. response.plan_id, cjson.encode({
    plan_id = response.plan_id, symbol = response.symbol, reason = response.reason, at = now_s,
    expires_at = now_s + ttl.permit, regime = response.regime and response.regime.name or nil,
    shadow = ctx.shadow or nil }), 'EX', ttl.permit)
end

local function finalize(response)
  local pid = response.plan_id
  local final = response.decision == 'ALLOW' or not NON_FINAL[response.reason]
  if response.decision == 'ALLOW' then
    write_permit(response)
    emit('PLAN_ALLOWED', {'plan_id', pid, 'symbol', response.symbol, 'reason', response.reason})
  else
    redis.call('SET', ctx.keys.block .. pid, cjson.encode({
      plan_id = pid, symbol = response.symbol, reason = response.reason, at = now_s,
      details = response.details, shadow = ctx.shadow or nil }), 'EX', ttl.block)
    emit('PLAN_BLOCKED', {'plan_id', pid, 'symbol', response.symbol, 'reason', response.reason})
    if ctx.shadow then
      response.details = response.details or {}
      response.details.would_be = { decision = 'BLOCK', reason = response.reason }
      response.decision = 'ALLOW'
      response.reason = R.shadow
      write_permit(response)
      final = true
    end
  end
  if ctx.shadow then response.shadow = true end
  if final then
    redis.call('SET', ctx.keys.decision .. pid, cjson.encode(response), 'EX', ttl.decision)
  end
  return cjson.encode({ replayed = false, response = response })
end

-- Values the caller asked to cache alongside the decision: {key, value, ttl ms}.
for _, w in ipairs(ctx.cache_writes or {}) do redis.call('SET', w[1], w[2], 'PX', int(w[3])) end

local function replay_if_final(pid)
  local cached = redis.call('GET', ctx.keys.decision .. pid)
  if cached then return '{"replayed":true,"response":' .. cached .. '}' end
  return nil
end
`;

/** Lock resolution, shared by the evaluation and the sweep. */
const LOCKS = `
-- Stream ids compare by (ms, seq).
local function id_after(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end

-- Advance the shared cursor over apply.result, paged, recording confirmations
-- (executed=true, reduceOnly=true) of close plans that belong to a live lock.
-- Returns true when the stream has been read to its end.
local function scan_confirmations(max_pages)
  local cursor = redis.call('GET', K.resultCursor) or '0-0'
  for _ = 1, max_pages do
    local page = redis.call('XRANGE', K.applyResultStream, '(' .. cursor, '+', 'COUNT', PAGE)
    for _, entry in ipairs(page) do
      local f = {}
      for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
      if f.plan_id and f.executed == 'true' and f.reduceOnly == 'true'
        and redis.call('HEXISTS', K.closePlans, f.plan_id) == 1 then
        redis.call('HSET', K.confirmed, f.plan_id, entry[1])
      end
      cursor = entry[1]
    end
    redis.call('SET', K.resultCursor, cursor)
    if #page < PAGE then return true end
  end
  return false
end

-- SPEC §3: rot_{first 8 chars of the new plan_id}_{close symbol}.
local function close_plan_id_of(pid, close_symbol)
  return 'rot_' .. string.sub(pid, 1, 8) .. '_' .. close_symbol
end

local function end_lock(lock_pid, lock)
  redis.call('DEL', ctx.keys.lock .. lock_pid)
  redis.call('ZREM', K.lockIndex, lock_pid)
  redis.call('HDEL', K.claims, lock_pid)
  redis.call('HDEL', K.closePlans, lock.close_plan_id)
  redis.call('HDEL', K.confirmed, lock.close_plan_id)
end

local function lock_fields(lock)
  return {'new_symbol', lock.new_symbol, 'new_plan_id', lock.new_plan_id,
          'close_symbol', lock.close_symbol, 'close_plan_id', lock.close_plan_id}
end

local function rotation_of(lock)
  return { close_symbol = lock.close_symbol, close_plan_id = lock.close_plan_id,
           lock_age = now_s - lock.created_at }
end

-- Slot holders (SPEC §5 step 8): open positions (the caller's snapshot), live
-- reservations, rotation claims; a symbol counts once. Reservations are kept
-- until they expire, even once their position is visible, so an evaluation
-- holding an older snapshot still counts the slot.
-- Live reservations by symbol; expired ones are dropped (their count is returned too).
local function live_reservations()
  local live, dropped = {}, 0
  local rows = redis.call('HGETALL', K.reservations)
  for i = 1, #rows, 2 do
    local r = cjson.decode(rows[i + 1])
    if tonumber(r.expires_at_ms) <= now_ms then
      redis.call('HDEL', K.reservations, rows[i]); dropped = dropped + 1
    else
      live[rows[i]] = r
    end
  end
  return live, dropped
end

local function slot_holders(open_symbols)
  local h = { set = {}, count = 0, open = {}, reserved = {}, claimed = {} }
  local function hold(s) if not h.set[s] then h.set[s] = true; h.count = h.count + 1 end end
  for _, s in ipairs(open_symbols) do h.open[s] = true; hold(s) end
  for symbol, r in pairs(live_reservations()) do h.reserved[symbol] = r; hold(symbol) end
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

-- Confirmed => the rotation ends (ROTATION_COMPLETE). The freed slot becomes the
-- new plan's reservation and its permit, unless the regime tightened meanwhile
-- and letting it in would put holders over desired: then the plan is blocked
-- over_capacity. Without \`capacity\` ({holders, desired}) a confirmed lock waits.
-- Older than its TTL and unconfirmed => ROTATION_TIMEOUT, claim released, final
-- BLOCK. Returns the outcome name and the JSON answer for the lock's plan.
local function resolve_lock(lock_pid, lock, capacity)
  local confirmed_id = redis.call('HGET', K.confirmed, lock.close_plan_id)
  local confirmed = confirmed_id and id_after(confirmed_id, lock.scan_from)
  local base = { plan_id = lock_pid, symbol = lock.new_symbol, regime = lock.regime,
                 slots = lock.slots, rotation = rotation_of(lock) }
  local age = now_s - lock.created_at
  if confirmed then
    if not capacity and age <= lock.ttl_s then return 'waiting', nil end
    -- The confirmed close frees the claimed slot (even if a position snapshot
    -- still shows it: the Apply Layer's confirmation is the authority), and
    -- the new symbol takes one unless it already holds one.
    end_lock(lock_pid, lock)
    -- The victim is closed for good: its entry record and any reservation (whose
    -- permit had lapsed, or it would not have been chosen) go with it.
    redis.call('HDEL', K.entries, lock.close_symbol)
    redis.call('HDEL', K.reservations, lock.close_symbol)
    local fields = lock_fields(lock)
    fields[#fields + 1] = 'confirmation_id'; fields[#fields + 1] = confirmed_id
    emit('ROTATION_COMPLETE', fields)
    if not capacity then
      -- Confirmed, but past its TTL the capacity is still unknown (no fresh
      -- regime, no positions): the rotation ends, the entry is not granted
      -- and may be evaluated afresh.
      base.decision = 'BLOCK'; base.reason = R.regimeUnavailable
      base.details = { rotation_complete = true }
      return 'complete', finalize(base)
    end
    local h = capacity.holders
    local after = h.count - 1
    if not h.set[lock.new_symbol] then after = after + 1 end
    base.slots = { desired = capacity.desired, holders = after }
    if after > capacity.desired then
      base.decision = 'BLOCK'; base.reason = R.overCapacity
      base.details = { rotation_complete = true }
      return 'complete', finalize(base)
    end
    reserve(lock.new_symbol, lock_pid)
    redis.call('HSET', K.entries, lock.new_symbol,
      cjson.encode({ plan_id = lock_pid, score = lock.new_score, at = now_s }))
    base.decision = 'ALLOW'; base.reason = R.rotationComplete
    return 'complete', finalize(base)
  end
  if not confirmed and age > lock.ttl_s then
    end_lock(lock_pid, lock)
    local fields = lock_fields(lock)
    fields[#fields + 1] = 'lock_age'; fields[#fields + 1] = age
    emit('ROTATION_TIMEOUT', fields)
    base.decision = 'BLOCK'; base.reason = R.rotationTimeout
    base.details = { lock_age = age, ttl = lock.ttl_s }
    return 'timeout', finalize(base)
  end
  return 'waiting', nil
end
`;

/**
 * READ_STATE: request 1 of an evaluation, read-only. KEYS: decision, policy,
 * binance backoff, binance time offset, entries, open symbols.
 * ctx: { symbol, market_prefix }. Returns the raw values plus the market
 * caches of the plan's symbol and of the symbols open at the last evaluation
 * (the correlation gate needs them: one round trip instead of two).
 */
export const READ_STATE = `
local ctx = cjson.decode(ARGV[1])
local function get(key) local v = redis.call('GET', key); if v then return v end; return nil end
local out = {
  decision = get(KEYS[1]),
  universe = redis.call('HGET', KEYS[2], 'universe_symbols') or nil,
  backoff_until = get(KEYS[3]),
  time_offset = get(KEYS[4]),
  entries = redis.call('HGETALL', KEYS[5]),
  markets = {},
}
-- The plan's symbol, the symbols open at the last evaluation, and those the
-- governor allowed since (their positions may have opened meanwhile).
local symbols = { ctx.symbol }
for i = 1, #out.entries, 2 do symbols[#symbols + 1] = out.entries[i] end
local open_raw = get(KEYS[6])
if open_raw then
  local ok, list = pcall(cjson.decode, open_raw)
  if ok and type(list) == 'table' then
    for _, s in ipairs(list) do if type(s) == 'string' then symbols[#symbols + 1] = s end end
  end
end
for _, s in ipairs(symbols) do
  if out.markets[s] == nil then out.markets[s] = get(ctx.market_prefix .. s) end
end
return cjson.encode(out)
`;

/**
 * RECORD_DECISION: write a decision taken before the slot step (closes, master
 * switch, universe, unavailable dependencies), unless the plan already has a
 * final one. ctx: { response }.
 */
export const RECORD_DECISION = `${PRELUDE}
local replay = replay_if_final(ctx.response.plan_id)
if replay then return replay end
return finalize(ctx.response)
`;

/**
 * EVALUATE_SLOTS: SPEC §5 step 8 in one atomic step.
 * ctx: { plan {plan_id, symbol, score?}, desired, open_symbols [..],
 *        victims [{symbol, weakness, close_side?, qty?, position_side?, legs?, legs_json?,
 *                  leg_count?}] weakest first (no legs: step size unknown),
 *        required_victim? {symbol, reason, details}, threshold,
 *        max_rotations_per_hour, regime, shadow }
 */
export const EVALUATE_SLOTS = `${PRELUDE}${LOCKS}
local plan = ctx.plan
local pid, symbol = plan.plan_id, plan.symbol
local replay = replay_if_final(pid)
if replay then return replay end

local h = slot_holders(ctx.open_symbols)
local desired = ctx.desired
local function answer(decision, reason, extra)
  local r = { plan_id = pid, symbol = symbol, decision = decision, reason = reason,
              regime = ctx.regime, slots = { desired = desired, holders = h.count } }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local function reserve_and_allow(reason)
  if not h.set[symbol] then h.set[symbol] = true; h.count = h.count + 1 end
  reserve(symbol, pid)
  if redis.call('HEXISTS', K.entries, symbol) == 0 or not h.open[symbol] then
    redis.call('HSET', K.entries, symbol,
      cjson.encode({ plan_id = pid, score = plan.score, at = now_s }))
  end
  return finalize(answer('ALLOW', reason))
end

-- A rotation already started for this plan: complete, time out, or keep waiting.
local lock_raw = redis.call('GET', ctx.keys.lock .. pid)
if lock_raw then
  local lock = cjson.decode(lock_raw)
  scan_confirmations(20)
  local outcome, result = resolve_lock(pid, lock, { holders = h, desired = desired })
  if outcome ~= 'waiting' then return result end
  return finalize(answer('BLOCK', R.waitingRotationClose,
    { rotation = rotation_of(lock) }))
end

-- The regime tightened: no entry at all (not even on a held symbol) until
-- positions close ("reducing").
if h.count > desired then
  return finalize(answer('BLOCK', R.overCapacity))
end
-- The symbol is being rotated out: an entry would reopen what is being closed.
if h.claimed[symbol] then
  return finalize(answer('BLOCK', R.symbolRotatingOut, { details = {
    lock_plan_id = h.claimed[symbol] } }))
end

-- One open position is too correlated (or its correlation unknown): the entry may
-- only come in by rotating out exactly that position.
local required = ctx.required_victim
local function correlation_block()
  return finalize(answer('BLOCK', required.reason, { details = required.details }))
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
if not victim then
  return finalize(answer('BLOCK', R.noRotationCandidate))
end
if required and required.symbol ~= victim.symbol then return correlation_block() end
local entry_raw = redis.call('HGET', K.entries, victim.symbol)
local victim_score = 0
if entry_raw then
  local e = cjson.decode(entry_raw)
  if type(e.score) == 'number' then victim_score = e.score end
end
local min_score = (1 + ctx.threshold) * victim_score
if type(plan.score) ~= 'number' or plan.score < min_score then
  return finalize(answer('BLOCK', R.rotationBelowThreshold, { details = {
    victim = victim.symbol, victim_score = victim_score, required = min_score,
    score = plan.score } }))
end
-- Churn budget: rotations started in the last hour.
redis.call('ZREMRANGEBYSCORE', K.rotationLog, '-inf', int(now_ms - 3600000))
if redis.call('ZCARD', K.rotationLog) >= ctx.max_rotations_per_hour then
  return finalize(answer('BLOCK', R.rotationBudget, { details = {
    max_per_hour = ctx.max_rotations_per_hour } }))
end

local close_plan_id = close_plan_id_of(pid, victim.symbol)
if ctx.shadow then
  -- Shadow mode: the would-be rotation is recorded, no close plan is emitted.
  return finalize(answer('BLOCK', R.waitingRotationClose, { details = {
    close_symbol = victim.symbol, close_plan_id = close_plan_id } }))
end

-- Close quantities need the symbol's step size (lib/rotation/victims.ts): unknown => no rotation.
if not victim.legs then
  return finalize(answer('BLOCK', R.positionsUnavailable, { details = {
    error = 'step_size_unknown', victim = victim.symbol } }))
end

local tail = redis.call('XREVRANGE', K.applyResultStream, '+', '-', 'COUNT', 1)
local scan_from = (tail[1] and tail[1][1]) or '0-0'
if redis.call('EXISTS', K.resultCursor) == 0 then redis.call('SET', K.resultCursor, scan_from) end
local lock = {
  new_symbol = symbol, new_plan_id = pid, close_symbol = victim.symbol,
  close_plan_id = close_plan_id, created_at = now_s, created_at_ms = now_ms,
  ttl_s = ttl.lock, scan_from = scan_from, new_score = plan.score,
  victim_weakness = victim.weakness, victim_score = victim_score,
  regime = ctx.regime, slots = { desired = desired, holders = h.count } }
redis.call('SET', ctx.keys.lock .. pid, cjson.encode(lock), 'EX', ttl.lock_redis)
redis.call('ZADD', K.lockIndex, int(now_ms), pid)
redis.call('HSET', K.claims, pid, victim.symbol)
redis.call('HSET', K.closePlans, close_plan_id, pid)
redis.call('ZADD', K.rotationLog, int(now_ms), pid)
-- side/position_side/qty: the first (one-way: only) leg; hedge mode with both sides
-- open adds legs (JSON array of {position_side, side, qty}) and leg_count.
local close_fields = {
  'plan_id', close_plan_id, 'symbol', victim.symbol, 'action', 'FULL_CLOSE_PROPOSED',
  'reduceOnly', 'true', 'decision', 'EXECUTE', 'rotation_trigger', 'true',
  'new_symbol', symbol, 'new_plan_id', pid, 'side', victim.close_side,
  'position_side', victim.position_side, 'qty', victim.qty, 'ts', int(now_ms)}
if victim.legs_json then
  for _, v in ipairs({'legs', victim.legs_json, 'leg_count', tostring(victim.leg_count)}) do
    close_fields[#close_fields + 1] = v
  end
end
redis.call('XADD', K.applyPlanStream, '*', unpack(close_fields))
emit('ROTATION_LOCK_CREATED', lock_fields(lock))
return finalize(answer('BLOCK', R.waitingRotationClose,
  { rotation = rotation_of(lock) }))
`;

/**
 * SWEEP_LOCKS: one batch of the cron sweep (SPEC §6).
 * ctx: { offset, batch, max_pages, drop_reservations, open_symbols?, slots, market_prefix }.
 * Reads the confirmation stream to its end (bounded by
 * pages), then resolves `batch` indexed locks from `offset`; lock keys gone are
 * dropped from the index with their claim; expired reservations are dropped.
 */
export const SWEEP_LOCKS = `${PRELUDE}${LOCKS}
local caught_up = scan_confirmations(ctx.max_pages)
local stats = { checked = 0, completed = 0, timed_out = 0, orphans = 0, waiting = 0,
                reservations_dropped = 0, caught_up = caught_up, completed_plans = {},
                locks = redis.call('ZCARD', K.lockIndex) }
if ctx.drop_reservations then
  local _, dropped = live_reservations()
  stats.reservations_dropped = dropped
end

-- Capacity for completing a confirmed lock, as the evaluation path has it: the
-- holders from the sweep's position snapshot, and the desired slots of the
-- regime cached for the new symbol. Unknown (no snapshot, no fresh regime) =>
-- the lock waits for the next sweep or for the plan's resubmission.
local holders
local function capacity_for(lock)
  if not ctx.open_symbols then return nil end
  local raw = redis.call('GET', ctx.market_prefix .. lock.new_symbol)
  local ok, market = pcall(cjson.decode, raw or '')
  if not ok or type(market) ~= 'table' or type(market.regime) ~= 'table'
    or (tonumber(market.expires_at_ms) or 0) <= now_ms then return nil end
  local desired = ctx.slots[market.regime.name]
  if not desired then return nil end
  holders = holders or slot_holders(ctx.open_symbols)
  return { holders = holders, desired = desired }
end

local ids = {}
if ctx.batch > 0 then ids = redis.call('ZRANGE', K.lockIndex, ctx.offset, ctx.offset + ctx.batch - 1) end
for _, lock_pid in ipairs(ids) do
  stats.checked = stats.checked + 1
  local raw = redis.call('GET', ctx.keys.lock .. lock_pid)
  if not raw then
    local close_symbol = redis.call('HGET', K.claims, lock_pid)
    redis.call('ZREM', K.lockIndex, lock_pid)
    redis.call('HDEL', K.claims, lock_pid)
    if close_symbol then
      local close_plan_id = close_plan_id_of(lock_pid, close_symbol)
      redis.call('HDEL', K.closePlans, close_plan_id)
      redis.call('HDEL', K.confirmed, close_plan_id)
    end
    stats.orphans = stats.orphans + 1
  else
    local lock = cjson.decode(raw)
    local outcome = resolve_lock(lock_pid, lock, capacity_for(lock))
    if outcome == 'complete' then
      holders = nil   -- a claim ended, maybe a reservation began: recount on next use
      stats.completed = stats.completed + 1
      stats.completed_plans[#stats.completed_plans + 1] = lock_pid
    elseif outcome == 'timeout' then stats.timed_out = stats.timed_out + 1
    else stats.waiting = stats.waiting + 1 end
  end
end
stats.more = ctx.batch > 0 and #ids == ctx.batch
return cjson.encode(stats)
`;
