import { PRELUDE } from "../../rotation/lua/prelude.ts";

/**
 * CLAIM_ALERTS: the alerts due for delivery, leased to this caller. First
 * ends a config_invalid incident (the caller runs with a valid configuration)
 * and queues the recoveries of incidents resolved for the cooldown. Then scans the
 * outbox from its oldest entry (at most ctx.scan entries) for alerts neither
 * leased to another delivery nor waiting for a retry, leases up to ctx.max of
 * them for ctx.lease_ms, and returns them oldest first as
 * [{ id, attempts, fields {kind, severity, status, summary, details, at} }].
 */
export const CLAIM_ALERTS = `${PRELUDE}
-- This runs with a valid configuration: an invalid one (lib/alerts/config-alert.ts) has ended.
incident_close('config_invalid', 'the configuration is valid again: the governor decides again', {})
settle_incidents()
local claimed = {}
for _, entry in ipairs(redis.call('XRANGE', K.alertOutbox, '-', '+', 'COUNT', ctx.scan)) do
  local id = entry[1]
  local raw = redis.call('HGET', K.alertAttempts, id)
  local attempt = raw and cjson.decode(raw) or { attempts = 0, next_at_ms = 0, lease_until_ms = 0 }
  if tonumber(attempt.next_at_ms) <= now_ms and tonumber(attempt.lease_until_ms) <= now_ms then
    attempt.lease_until_ms = now_ms + ctx.lease_ms
    redis.call('HSET', K.alertAttempts, id, cjson.encode(attempt))
    local fields = {}
    for i = 1, #entry[2], 2 do fields[entry[2][i]] = entry[2][i + 1] end
    claimed[#claimed + 1] = { id = id, attempts = attempt.attempts, fields = fields }
    if #claimed >= ctx.max then break end
  end
end
return cjson.encode(claimed)
`;

/**
 * SETTLE_ALERTS: the outcome of a delivery. ctx: { delivered [id],
 * retry [{id, attempts, next_at_ms, error}], dropped [{id, kind, attempts,
 * error}] }. A delivered or dropped alert leaves the outbox (a drop is
 * recorded as ALERT_DROPPED); a failed one waits until next_at_ms. Retry
 * records of alerts the outbox no longer holds (trimmed) are removed.
 */
export const SETTLE_ALERTS = `${PRELUDE}
for _, id in ipairs(ctx.delivered) do
  redis.call('XDEL', K.alertOutbox, id)
  redis.call('HDEL', K.alertAttempts, id)
end
for _, r in ipairs(ctx.retry) do
  if redis.call('HEXISTS', K.alertAttempts, r.id) == 1 then
    redis.call('HSET', K.alertAttempts, r.id, cjson.encode({ attempts = r.attempts,
      next_at_ms = r.next_at_ms, lease_until_ms = 0, last_error = r.error }))
  end
end
for _, d in ipairs(ctx.dropped) do
  redis.call('XDEL', K.alertOutbox, d.id)
  redis.call('HDEL', K.alertAttempts, d.id)
  emit('ALERT_DROPPED', {'alert_id', d.id, 'kind', d.kind, 'attempts', d.attempts, 'error', d.error})
end
for _, id in ipairs(redis.call('HKEYS', K.alertAttempts)) do
  if redis.call('XRANGE', K.alertOutbox, id, id)[1] == nil then redis.call('HDEL', K.alertAttempts, id) end
end
return cjson.encode({ pending = redis.call('XLEN', K.alertOutbox) })
`;
