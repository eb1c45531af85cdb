import { LOCKS } from "./locks.ts";
import { PRELUDE } from "./prelude.ts";

/**
 * RECORD_DECISION: write a decision taken before the slot step (closes, the
 * master switch, universe, a gate that blocked, an unavailable dependency),
 * unless the plan already has a final one. A final BLOCK of a plan whose
 * rotation waits ends that rotation (ROTATION_CANCELLED). ctx: { response,
 * fingerprint }.
 */
export const RECORD_DECISION = `${PRELUDE}${LOCKS}
local r = ctx.response
local conflict = identity_conflict(r.plan_id, r.symbol)
if conflict then return conflict end
local replay = replay_if_final(r.plan_id)
if replay then return replay end
-- The trading state binds every entry ALLOW, whatever decided it (the master switch too).
if r.decision == 'ALLOW' and r.reason ~= R.closeAllowed then
  local state_reason = state_block()
  if state_reason then r.decision = 'BLOCK'; r.reason = state_reason end
end
local answer, final = finalize(r)
if final and r.decision == 'BLOCK' then
  local lock = lock_of(r.plan_id)
  if lock then cancel_lock(r.plan_id, lock, r.reason) end
end
return answer
`;
