/**
 * The operators' controls in Lua (docs/contract.md §9), fragments of the
 * prelude every script starts with (lib/rotation/lua/prelude.ts), so the
 * deciding scripts read the trading state in the same atomic step that
 * decides.
 *
 * TRADING_STATE_LUA, in every script (the state read, READ_STATE, too):
 *   - `trading_state()`, `state_block()`: the state and the BLOCK it gives an entry.
 *
 * OPERATORS_LUA, in every script that writes a decision:
 *   - `set_trading_state()`: the change, its TRADING_STATE_CHANGED event and alert;
 *   - `queue_alert()`, `incident_open()`, `incident_close()`, `settle_incidents()`:
 *     alerts go to a bounded outbox stream that the cron (and the admin
 *     route, after answering) delivers; never to the network from a decision;
 *   - `observe_balance()`: the drawdown breaker, fed with the margin balance the
 *     evaluation already read (`ctx.balance`);
 *   - `observe_dependencies()`, `observe_capacity()`, `alert_rotation_timeout()`:
 *     what else a person must hear about.
 *
 * Expects the prelude's R, K, ctx, now_ms, int, emit and alerts_queued (a
 * decision's answer carries the count, so the caller delivers after answering).
 */
export const TRADING_STATE_LUA = `
-- ---- Trading state ---------------------------------------------------------
local TRADING_STATES = { ACTIVE = true, REDUCING = true, HALTED = true }

-- The trading state as stored; absent = ACTIVE. A record that cannot be read
-- fails closed (HALTED) until an operator writes a good one.
local function trading_state()
  local raw = redis.call('GET', K.tradingState)
  if not raw then return { state = 'ACTIVE' } end
  local ok, record = pcall(cjson.decode, raw)
  if not ok or type(record) ~= 'table' or not TRADING_STATES[record.state] then
    return { state = 'HALTED', reason = 'the trading state record is unreadable', actor = 'governor' }
  end
  return record
end

-- The BLOCK reason the trading state gives an entry; nil when ACTIVE.
local function state_block()
  local state = trading_state().state
  if state == 'HALTED' then return R.halted end
  if state == 'REDUCING' then return R.reducing end
  return nil
end
`;

export const OPERATORS_LUA = `
-- ---- Alerts ------------------------------------------------------------------
-- An alert waits in the outbox (bounded) until a delivery (the cron sweep, or
-- the admin route after its answer) sends it; a decision never waits for one.
local function queue_alert(kind, severity, status, summary, details)
  alerts_queued = alerts_queued + 1
  return redis.call('XADD', K.alertOutbox, 'MAXLEN', '~', '1000', '*',
    'kind', kind, 'severity', severity, 'status', status, 'summary', summary,
    'details', cjson.encode(details or {}), 'at', int(now_ms))
end

local function alert_cooldown_ms() return (tonumber(ctx.alert_cooldown_s) or 300) * 1000 end

-- Incidents are deduplicated by key: one alert when one starts; one recovery
-- alert once it has stayed resolved for GOV_ALERT_COOLDOWN_S (a relapse
-- within that time continues the same incident, silently).
--
-- The hash is read once per call (a handful of keys at most: an evaluation
-- observes five of them) and written only through set_incident, which keeps
-- that copy in step.
local incidents
local function incident_of(key)
  if not incidents then
    incidents = {}
    local rows = redis.call('HGETALL', K.alertIncidents)
    for i = 1, #rows, 2 do incidents[rows[i]] = rows[i + 1] end
  end
  return incidents[key]
end

-- incident: a table to store, or nil to delete the key.
local function set_incident(key, incident)
  if not incidents then incident_of(key) end
  local raw = incident and cjson.encode(incident) or nil
  if raw then redis.call('HSET', K.alertIncidents, key, raw) else redis.call('HDEL', K.alertIncidents, key) end
  incidents[key] = raw
end

local function settle_incidents(only_key)
  local rows = redis.call('HGETALL', K.alertIncidents)
  for i = 1, #rows, 2 do
    local incident = cjson.decode(rows[i + 1])
    local due = incident.ending_since_ms and now_ms - incident.ending_since_ms >= alert_cooldown_ms()
    if due and (only_key == nil or only_key == rows[i]) then
      set_incident(rows[i], nil)
      local details = incident.recovery_details or {}
      details.since_ms = incident.since_ms
      details.resolved_at_ms = incident.ending_since_ms
      queue_alert(incident.kind, 'info', 'resolved', incident.recovery, details)
    end
  end
end

local function incident_open(key, kind, severity, summary, details)
  local raw = incident_of(key)
  if raw then
    local incident = cjson.decode(raw)
    if incident.ending_since_ms then
      incident.ending_since_ms = nil
      set_incident(key, incident)
    end
    return
  end
  set_incident(key, { kind = kind, since_ms = now_ms })
  queue_alert(kind, severity, 'firing', summary, details)
end

local function incident_close(key, summary, details)
  local raw = incident_of(key)
  if not raw then return end
  local incident = cjson.decode(raw)
  if incident.ending_since_ms then return end
  incident.ending_since_ms = now_ms
  incident.recovery = summary
  incident.recovery_details = details
  set_incident(key, incident)
  if alert_cooldown_ms() <= 0 then settle_incidents(key) end
end

-- ---- Trading state changes -------------------------------------------------
local STATE_SEVERITY = { ACTIVE = 'info', REDUCING = 'warning', HALTED = 'critical' }

-- Set the trading state: the record, TRADING_STATE_CHANGED and its alert, in
-- the caller's atomic step. Setting the current state is no change: the
-- record (who set it, and why) stays. Resuming from a breaker's halt re-arms
-- the breaker: its peak restarts from the balance seen next.
-- Returns the record in force, whether it changed, and the previous state.
local function set_trading_state(to, reason, actor, alert)
  local current = trading_state()
  if current.state == to then return current, false, current.state end
  local record = { state = to, reason = reason, actor = actor, at = now_ms }
  redis.call('SET', K.tradingState, cjson.encode(record))
  emit('TRADING_STATE_CHANGED', {'from', current.state, 'to', to, 'reason', reason, 'actor', actor})
  if current.actor == 'drawdown_breaker' and to ~= 'HALTED' then redis.call('DEL', K.balancePeaks) end
  alert = alert or {}
  local details = alert.details or {}
  details.from = current.state; details.to = to; details.reason = reason; details.actor = actor
  queue_alert(alert.kind or 'trading_state_changed', alert.severity or STATE_SEVERITY[to],
    to == 'ACTIVE' and 'resolved' or 'firing',
    alert.summary or ('trading state ' .. current.state .. ' -> ' .. to .. ' by ' .. actor .. ': ' .. reason),
    details)
  return record, true, current.state
end

-- ---- Drawdown breaker ------------------------------------------------------
-- ctx.balance = { value (totalMarginBalance), max_pct, window_ms }. The peak
-- over the trailing window is kept as per-bucket maxima (bucket = window/120,
-- at least a minute; a bucket counts while part of it is in the window).
local function observe_balance(b)
  local value, window_ms, max_pct = tonumber(b.value), tonumber(b.window_ms), tonumber(b.max_pct)
  if not value or value <= 0 or not window_ms or not max_pct then return end
  local bucket_ms = math.max(60000, math.floor(window_ms / 120))
  local bucket = int(math.floor(now_ms / bucket_ms) * bucket_ms)
  local seen = tonumber(redis.call('HGET', K.balancePeaks, bucket))
  if not seen or value > seen then redis.call('HSET', K.balancePeaks, bucket, tostring(value)) end
  local peak = value
  local rows = redis.call('HGETALL', K.balancePeaks)
  for i = 1, #rows, 2 do
    if tonumber(rows[i]) + bucket_ms <= now_ms - window_ms then
      redis.call('HDEL', K.balancePeaks, rows[i])
    else
      peak = math.max(peak, tonumber(rows[i + 1]) or 0)
    end
  end
  local drawdown = (peak - value) / peak
  local details = { balance = value, peak = peak, drawdown = drawdown, limit = max_pct,
                    window_h = window_ms / 3600000 }
  local figures = string.format('margin balance %.2f is %.2f%% below its %gh peak %.2f (limit %.2f%%)',
    value, drawdown * 100, window_ms / 3600000, peak, max_pct * 100)
  if value < peak * (1 - max_pct) then
    set_trading_state('HALTED', 'drawdown breaker: ' .. figures, 'drawdown_breaker', {
      kind = 'drawdown_breaker_tripped', severity = 'critical', details = details,
      summary = 'HALTED by the drawdown breaker: ' .. figures .. '; an operator must resume' })
  end
  if drawdown >= 0.8 * max_pct then
    incident_open('drawdown_warning', 'drawdown_warning', 'warning',
      'drawdown past 80% of the limit: ' .. figures, details)
  else
    incident_close('drawdown_warning', 'drawdown back under 80% of the limit: ' .. figures, details)
  end
end

-- ---- What else a person must hear about ------------------------------------
local DEPENDENCIES = {
  { name = 'positions', text = 'open positions cannot be read from Binance' },
  { name = 'margin', text = 'the account shows no usable margin balance' },
  { name = 'regime', text = 'klines cannot be read: the regime is unknown' },
  { name = 'binance_backoff', text = 'Binance rate-limited the governor (429/418): calls wait' },
}

-- ctx.dependencies = { positions?, margin?, regime?, binance_backoff? }: 'ok',
-- or the error's class name; a dependency not named was not observed.
local function observe_dependencies(seen)
  for _, d in ipairs(DEPENDENCIES) do
    local status = seen[d.name]
    if status == 'ok' then
      incident_close('dependency:' .. d.name, d.name .. ' available again', { dependency = d.name })
    elseif type(status) == 'string' then
      incident_open('dependency:' .. d.name, 'dependency_unavailable', 'critical',
        d.text .. ' (' .. status .. '): entries are blocked', { dependency = d.name, error = status })
    end
  end
end

local function observe_capacity(holders, desired)
  local details = { holders = holders, desired = desired }
  if holders > desired then
    incident_open('over_capacity', 'over_capacity', 'warning', string.format(
      '%d slot holders for %d slots: the regime tightened, entries wait until positions close',
      holders, desired), details)
  else
    incident_close('over_capacity', string.format('back within capacity: %d of %d slots held',
      holders, desired), details)
  end
end

local function alert_rotation_timeout(lock, age)
  queue_alert('rotation_timeout', 'warning', 'firing', string.format(
    'rotation of %s out for %s timed out after %d s: the close was not confirmed',
    lock.close_symbol, lock.new_symbol, age), {
    new_symbol = lock.new_symbol, new_plan_id = lock.new_plan_id, close_symbol = lock.close_symbol,
    close_plan_id = lock.close_plan_id, lock_age = age })
end

-- What the caller observed on its way here, recorded before it decides.
if ctx.balance then observe_balance(ctx.balance) end
if ctx.dependencies then observe_dependencies(ctx.dependencies) end
`;
