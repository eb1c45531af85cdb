/**
 * The Lua that counts, spliced into every script's prelude
 * (lib/rotation/lua/prelude.ts) after the reason table `R`: counters and
 * per-minute history written by the same atomic step that decides, so they
 * can never disagree with the decisions, whichever isolate ran them. Every
 * write is O(1) (HINCRBY, HSET, EXPIRE on a known key) and adds no request.
 *
 * - `count_decision(response)`: from `finalize`, once per decision written.
 * - `count_rotation(outcome)`: where a rotation starts and where it ends.
 * - `count_call()`: once per script call, for what the caller measured before
 *   it: `ctx.failures` {dependency: n} and `ctx.duration_ms`.
 *
 * `ctx.metrics == false` (GOV_METRICS=off, for the benchmark's comparison)
 * writes none of it.
 */
import {
  blockOutcomes,
  bucketLabel,
  DURATION_BUCKETS_S,
  FIELD,
  HISTORY_TTL_S,
  PREFIX,
} from "../series.ts";

const luaString = (s: string) => `'${s.replace(/[\\']/g, "\\$&")}'`;

export const METRICS_LUA = `
-- Metrics (docs/contract.md §10), fields as lib/metrics/series.ts names them.
local BLOCK_OUTCOME = {
${blockOutcomes()
  .map(([reason, outcome]) => `  [${luaString(reason)}] = ${luaString(outcome)},`)
  .join("\n")}
}
local DURATION_BUCKETS = { ${DURATION_BUCKETS_S.map(
  (s) => `{ ${Math.round(s * 1000)}, ${luaString(FIELD.durationBucket(bucketLabel(s)))} }`,
).join(", ")} }
-- This minute's history hash (none when the caller named no prefix).
local history_key = ctx.keys and ctx.keys.history
if history_key then history_key = history_key .. string.format('%.0f', math.floor(now_ms / 60000)) end

local function metric(field, n)
  if ctx.metrics ~= false then redis.call('HINCRBY', K.metrics, field, n or 1) end
end

local function history(field, n)
  if ctx.metrics == false or not history_key then return end
  redis.call('HINCRBY', history_key, field, n or 1)
  redis.call('EXPIRE', history_key, ${HISTORY_TTL_S})
end

-- One decision, as its event records it (in shadow mode the would-be decision).
local function count_decision(response)
  local decision, reason = response.decision, response.reason
  metric(${luaString(PREFIX.decisions)} .. decision .. '|' .. reason)
  if reason == R.noPolicy then metric(${luaString(FIELD.failure("policy"))}) end
  local outcome = 'allow'
  if decision ~= 'ALLOW' then outcome = BLOCK_OUTCOME[reason] or 'block' end
  history(${luaString(PREFIX.decisions)} .. outcome)
  local slots = response.slots
  if slots and ctx.metrics ~= false then
    redis.call('HSET', K.metrics, ${luaString(FIELD.slotsDesired)}, slots.desired,
      ${luaString(FIELD.slotHolders)}, slots.holders, ${luaString(FIELD.slotsAt)}, string.format('%.0f', now_ms))
    if history_key then
      redis.call('HSET', history_key, ${luaString(FIELD.slotsDesired)}, slots.desired,
        ${luaString(FIELD.slotHolders)}, slots.holders)
    end
  end
end

-- outcome: 'started', 'completed', 'not_granted', 'timed_out'.
local function count_rotation(outcome)
  metric(${luaString(PREFIX.rotations)} .. outcome)
  history(${luaString(PREFIX.rotations)} .. outcome)
end

local function count_call()
  for dependency, n in pairs(ctx.failures or {}) do
    if tonumber(n) and tonumber(n) > 0 then metric(${luaString(PREFIX.failures)} .. dependency, n) end
  end
  local ms = tonumber(ctx.duration_ms)
  if ms then
    local bucket = ${luaString(FIELD.durationBucket("+Inf"))}
    for _, b in ipairs(DURATION_BUCKETS) do
      if ms <= b[1] then bucket = b[2]; break end
    end
    metric(bucket)
    metric(${luaString(FIELD.durationSumMs)}, math.max(0, math.floor(ms)))
  end
end
`;
