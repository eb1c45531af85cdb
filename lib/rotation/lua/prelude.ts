/**
 * The fragments every script starts with: BASE_PRELUDE (reason codes, KEYS by
 * name, the JSON context `ctx` that lib/rotation/scripts.ts builds, events,
 * market-cache digests, plan identity, the trading state), and PRELUDE, what a
 * script that writes decisions adds to it: the deadline guard, the counters
 * (lib/metrics/lua/counters.ts), queued cache writes, `finalize`, which writes
 * (and counts) one plan's decision, and the operators' Lua. READ_STATE, on every
 * evaluation, starts with BASE_PRELUDE alone.
 *
 * `inlineConstants` turns a script into the text Redis runs.
 */
import { isFinal, REASONS } from "../../plans/reasons.ts";
import { METRICS_LUA } from "../../metrics/lua/counters.ts";
import { OPERATORS_LUA, TRADING_STATE_LUA } from "../../operators/lua/operators.ts";

/** Order of KEYS for every script (lib/keys.ts names them). */
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
  "incoming",
  "lockData",
  "closePlanHistory",
  "policy",
  "tradingState",
  "balancePeaks",
  "alertOutbox",
  "alertAttempts",
  "alertIncidents",
  "metrics",
] as const;

/** Reason codes as a Lua table (R.overCapacity, ...): one source, lib/plans/reasons.ts. */
const R_TABLE = `local R = {
${Object.entries(REASONS)
  .map(([name, code]) => `  ${name} = '${code}',`)
  .join("\n")}
}
`;

/** KEYS by name (K.entries, ...), in SCRIPT_KEY_NAMES order. */
const K_TABLE = `local K = {}
for i, name in ipairs({${SCRIPT_KEY_NAMES.map((n) => `'${n}'`).join(", ")}}) do K[name] = KEYS[i] end
`;

/**
 * The text Redis runs: each `R.name` replaced by its reason code and each
 * `K.name` by `KEYS[i]`, and the two tables dropped, so no call builds them
 * again (a script's source stays readable and runs as written). Lines are
 * kept, so Redis's line numbers are the source's. An unknown name throws.
 */
export function inlineConstants(source: string): string {
  if (!source.includes(R_TABLE) || !source.includes(K_TABLE)) return source;
  const blank = (text: string) => "\n".repeat(text.split("\n").length - 1);
  const reasons: Record<string, string> = REASONS;
  return source
    .replace(R_TABLE, blank(R_TABLE))
    .replace(K_TABLE, blank(K_TABLE))
    .replace(/\bR\.([A-Za-z]\w*)/g, (_, name: string) => {
      if (!Object.hasOwn(reasons, name)) throw new Error(`Lua: unknown reason R.${name}`);
      return `'${reasons[name]}'`;
    })
    .replace(/\bK\.([A-Za-z]\w*)/g, (_, name: string) => {
      const at = (SCRIPT_KEY_NAMES as readonly string[]).indexOf(name);
      if (at < 0) throw new Error(`Lua: unknown key K.${name}`);
      return `KEYS[${at + 1}]`;
    });
}

/** What every script starts with: it writes nothing until a function it defines is called. */
export const BASE_PRELUDE = `
${R_TABLE}${K_TABLE}local ctx = cjson.decode(ARGV[1])
local now_ms = tonumber(ctx.now_ms)          -- ms, the caller's clock
local now_s = math.floor(now_ms / 1000)      -- s
local ttl = ctx.ttl                          -- s: permit, block, decision, reservation, lock, lock_redis
local PAGE = 500                             -- entries per XRANGE page

local function int(x) return string.format('%.0f', x) end

local function emit(event, fields)
  local args = {K.eventsStream, 'MAXLEN', '~', '100000', '*', 'event', event, 'ts', int(now_ms)}
  if ctx.shadow then fields[#fields + 1] = 'shadow'; fields[#fields + 1] = 'true' end
  for i = 1, #fields do args[#args + 1] = tostring(fields[i]) end
  return redis.call('XADD', unpack(args))
end

-- A market cache carries its digest in front: {"digest":"<SHA-1 of the text
-- without it>", ...}, so a read can take it with GETRANGE instead of hashing
-- the text (READ_STATE). A text written without one (by an older version, by
-- hand) has none, and its digest is its SHA-1.
local DIGEST_HEAD = '{"digest":"'
local function digest_of(text)
  if string.sub(text, 1, #DIGEST_HEAD) == DIGEST_HEAD then
    return string.sub(text, #DIGEST_HEAD + 1, #DIGEST_HEAD + 40)
  end
  return redis.sha1hex(text)
end

-- A plan's decision cache, read once per call: the identity check, the
-- replay and the state read all ask for it. finalize, its only writer, keeps
-- this copy in step (false: no decision).
local decisions = {}
local function decision_of(pid)
  if decisions[pid] == nil then decisions[pid] = redis.call('GET', ctx.keys.decision .. pid) end
  return decisions[pid] or nil
end

-- A plan is known by its id AND its content (ctx.fingerprint): a final
-- decision or a rotation lock stored under this id for another plan is a
-- conflict. Returns the conflict answer (and records it), or nil.
local function identity_conflict(pid, symbol)
  local stored
  local cached = decision_of(pid)
  if cached then stored = cjson.decode(cached).fingerprint end
  if not stored then
    local lock = redis.call('HGET', K.lockData, pid)
    if lock then stored = cjson.decode(lock).fingerprint end
  end
  if stored == nil or stored == cjson.null or stored == ctx.fingerprint then return nil end
  emit('PLAN_ID_CONFLICT', {'plan_id', pid, 'symbol', symbol or ''})
  return cjson.encode({ conflict = { plan_id = pid } })
end

-- The decision cache holds {"fingerprint":..,"response":..}; the response's
-- bytes are kept as written, so a replay answers exactly the same JSON.
local function cached_response(cached)
  local at = string.find(cached, ',"response":', 1, true)
  if not at then return cached end   -- written before fingerprints: the response itself
  return string.sub(cached, at + 12, -2)
end
${TRADING_STATE_LUA}`;

/** What every script that writes decisions starts with: BASE_PRELUDE and what deciding needs. */
export const PRELUDE = `${BASE_PRELUDE}
-- BLOCK reasons that are not final: the same plan may be evaluated again.
local NON_FINAL = {
${Object.values(REASONS)
  .filter((code) => !isFinal("BLOCK", code))
  .map((code) => `  ['${code}'] = true,`)
  .join("\n")}
}
local alerts_queued = 0                      -- alerts this script queued (lib/operators/lua/operators.ts)

${METRICS_LUA}
-- A decision its caller no longer waits for must not take effect: past
-- ctx.deadline_ms (unix ms) the client has timed out and answered 503.
if ctx.deadline_ms then
  local t = redis.call('TIME')
  local redis_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if redis_ms > tonumber(ctx.deadline_ms) then return cjson.encode({ late = true }) end
end

-- A market cache written here gets its digest in front (see digest_of).
local function with_digest(text)
  if string.sub(text, 1, 1) ~= '{' or string.sub(text, 1, #DIGEST_HEAD) == DIGEST_HEAD then return text end
  local rest = string.sub(text, 2)
  return DIGEST_HEAD .. redis.sha1hex(text) .. (string.sub(rest, 1, 1) == '}' and '"' or '",') .. rest
end

-- Values the caller asked to cache alongside the decision: {key, value, ttl ms,
-- digest?}; with digest = true (a market cache) the text gets its digest in front.
for _, w in ipairs(ctx.cache_writes or {}) do
  redis.call('SET', w[1], w[4] == true and with_digest(w[2]) or w[2], 'PX', int(w[3]))
end
count_call()

local function replay_if_final(pid)
  local cached = decision_of(pid)
  if cached then return '{"replayed":true,"response":' .. cached_response(cached) .. '}' end
  return nil
end

-- Write the decision of one plan: permit or block record, event, and (when
-- final: every ALLOW, and every BLOCK not in NON_FINAL) the decision cache
-- that makes replays idempotent, with the plan's fingerprint (the caller's,
-- or the lock's when the sweep decides for a waiting plan). In shadow mode a BLOCK is recorded as it
-- would be (block record, PLAN_BLOCKED marked shadow=true) and the entry gets
-- its permit anyway.
local function write_permit(response)
  redis.call('SET', ctx.keys.permit .. response.plan_id, cjson.encode({
    plan_id = response.plan_id, symbol = response.symbol, reason = response.reason, at = now_s,
    expires_at = now_s + ttl.permit, regime = response.regime and response.regime.name or nil,
    shadow = ctx.shadow or nil }), 'EX', ttl.permit)
end

local function finalize(response, fingerprint)
  count_decision(response)
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
    -- The trading state is an operator's command, not a gate: it binds in shadow mode too.
    if ctx.shadow and response.reason ~= R.halted and response.reason ~= R.reducing then
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
    local fp = fingerprint or ctx.fingerprint
    local text = '{"fingerprint":' .. cjson.encode(fp) .. ',"response":' .. cjson.encode(response) .. '}'
    redis.call('SET', ctx.keys.decision .. pid, text, 'EX', ttl.decision)
    decisions[pid] = text
  end
  return cjson.encode({ replayed = false, response = response, alerts = alerts_queued }), final
end
${OPERATORS_LUA}`;
