import type { GovernorContext } from "../context.ts";
import { stateStoreFailure } from "../errors.ts";

function parseJson(raw: unknown): unknown {
  if (typeof raw !== "string") return null;
  try {
    return JSON.parse(raw);
  } catch {
    return { unreadable: raw.slice(0, 200) };
  }
}

/** The decision cache holds {fingerprint, response}: show the response. */
function decisionOf(stored: unknown): unknown {
  if (typeof stored === "object" && stored !== null && "response" in stored) {
    return (stored as { response: unknown }).response;
  }
  return stored;
}

/** What the governor knows of one plan: permit, block record, rotation lock, final decision. */
export async function readPlanState(gov: GovernorContext, planId: string) {
  const { keys } = gov;
  const pipeline = gov.redis.pipeline();
  pipeline.get(keys.permit(planId));
  pipeline.get(keys.block(planId));
  pipeline.get(keys.rotationLock(planId));
  pipeline.get(keys.decision(planId));
  const [permit, block, lock, decision] = await pipeline.exec().catch(stateStoreFailure);
  return {
    plan_id: planId,
    permit: parseJson(permit),
    block: parseJson(block),
    lock: parseJson(lock),
    decision: decisionOf(parseJson(decision)),
  };
}
