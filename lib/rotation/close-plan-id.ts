/**
 * A rotation's close plan id, `rot_{first 8 chars of the new plan_id}_{close
 * symbol}`: the format the Apply Layer relies on (docs/contract.md, close
 * plan). The Lua that issues it (`close_plan_id_of`, in ./lua/locks.ts) is
 * written from the same parts, so TypeScript and Lua cannot disagree. Plan ids
 * are ASCII (lib/plans/schema.ts), so Lua's first 8 bytes are these 8
 * characters.
 */
const PREFIX = "rot_";
const PLAN_ID_CHARS = 8;

/** The close plan id of the rotation that brings in `newPlanId` and closes `closeSymbol`. */
export function closePlanId(newPlanId: string, closeSymbol: string): string {
  return `${PREFIX}${newPlanId.slice(0, PLAN_ID_CHARS)}_${closeSymbol}`;
}

/** The same in Lua: `close_plan_id_of(pid, close_symbol)`. */
export const CLOSE_PLAN_ID_LUA = `-- ${PREFIX}{first ${PLAN_ID_CHARS} chars of the new plan_id}_{close symbol}: the close plan id
-- format the Apply Layer relies on.
local function close_plan_id_of(pid, close_symbol)
  return '${PREFIX}' .. string.sub(pid, 1, ${PLAN_ID_CHARS}) .. '_' .. close_symbol
end`;
