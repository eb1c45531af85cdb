import { BASE_PRELUDE } from "./prelude.ts";

/**
 * READ_STATE: request 1 of an evaluation, read-only but for one case: a plan
 * id already used by another plan is recorded (PLAN_ID_CONFLICT) and answered
 * as a conflict. Extra KEYS after the shared ones: binance backoff, binance
 * time offset, open symbols, step sizes. ctx: { plan_id, symbol, fingerprint,
 * market_prefix, market_digests, universe_digest? }. Returns the raw values plus the market
 * caches of the plan's symbol and of the symbols open at the last evaluation
 * (the correlation gate needs them: one round trip instead of two), their
 * cached step sizes (a rotation's close legs need the victims'), and the
 * trading state's BLOCK reason (`trading_block`).
 *
 * A market cache is sent whole only when the caller does not hold it yet:
 * `market_digests` maps a symbol to the digest (the prelude's digest_of) of
 * the cache text the caller holds (isolate memory); a cache whose text has
 * that very digest is answered in `markets_held` (symbol -> true) instead of
 * `markets`, and every cache sent comes with its digest in `market_digests`.
 * A cache changes once per candle, so the answer stays small however many
 * positions are open.
 *
 * A held cache's digest is not computed here: the prelude wrote it in front
 * of the text, and GETRANGE reads just that. A text without one in front (a
 * cache deleted, or written by an older version or by hand) is read and
 * hashed. Hashing every held cache on every read was most of this script's
 * time.
 *
 * The policy's universe travels the same way: `universe_digest` is the SHA-1
 * of the universe text the caller holds; the same text in Redis is answered
 * `universe_held = true`, any other is sent whole as `universe`, with its
 * digest in `universe_digest`. A policy changes rarely, evaluations often.
 */
export const READ_STATE = `${BASE_PRELUDE}
local n = #KEYS
local conflict = identity_conflict(ctx.plan_id, ctx.symbol)
if conflict then return conflict end
local function get(key) local v = redis.call('GET', key); if v then return v end; return nil end
local decision = decision_of(ctx.plan_id)
local out = {
  decision = decision and cached_response(decision) or nil,
  backoff_until = get(KEYS[n - 3]),
  time_offset = get(KEYS[n - 2]),
  entries = redis.call('HGETALL', K.entries),
  markets = {},
}
local universe = redis.call('HGET', K.policy, 'universe_symbols')
if universe then
  local digest = redis.sha1hex(universe)
  if ctx.universe_digest == digest then
    out.universe_held = true
  else
    out.universe = universe
    out.universe_digest = digest
  end
end
-- The trading state's BLOCK, so the caller spares the exchange a call; the
-- deciding script checks it again atomically. A plan whose rotation waits is
-- left to the slot script (its close may still confirm).
if redis.call('HEXISTS', K.lockData, ctx.plan_id) == 0 then out.trading_block = state_block() end
-- The plan's symbol, the symbols open at the last evaluation, and those the
-- governor allowed since (their positions may have opened meanwhile).
local symbols = { ctx.symbol }
for i = 1, #out.entries, 2 do symbols[#symbols + 1] = out.entries[i] end
local open_raw = get(KEYS[n - 1])
if open_raw then
  local ok, list = pcall(cjson.decode, open_raw)
  if ok and type(list) == 'table' then
    for _, s in ipairs(list) do if type(s) == 'string' then symbols[#symbols + 1] = s end end
  end
end
local held = type(ctx.market_digests) == 'table' and ctx.market_digests or {}
out.markets_held = {}
out.market_digests = {}
local distinct = {}
local seen = {}
for _, s in ipairs(symbols) do
  if not seen[s] then
    seen[s] = true
    distinct[#distinct + 1] = s
    local key = ctx.market_prefix .. s
    local offered = type(held[s]) == 'string' and held[s] or nil
    local head = offered and redis.call('GETRANGE', key, 0, #DIGEST_HEAD + 39)
    if head and head == DIGEST_HEAD .. offered then
      out.markets_held[s] = true
    else
      local raw = get(key)
      if raw then
        local digest = digest_of(raw)
        if offered == digest then
          out.markets_held[s] = true
        else
          out.markets[s] = raw
          out.market_digests[s] = digest
        end
      end
    end
  end
end
out.step_sizes = {}
local steps = redis.call('HMGET', KEYS[n], unpack(distinct))
for i, s in ipairs(distinct) do
  if steps[i] then out.step_sizes[s] = steps[i] end
end
return cjson.encode(out)
`;
