import { PRELUDE } from "../../rotation/lua/prelude.ts";

/**
 * SET_TRADING_STATE: an operator's change of the trading state, atomic with
 * its TRADING_STATE_CHANGED event and alert (see `set_trading_state` in
 * ./operators.ts). ctx: { state, reason, actor }. Returns { changed, previous,
 * record }; setting the state in force changes nothing.
 */
export const SET_TRADING_STATE = `${PRELUDE}
local record, changed, previous = set_trading_state(ctx.state, ctx.reason, ctx.actor)
return cjson.encode({ changed = changed, previous = previous, record = record })
`;

/** READ_TRADING_STATE (read-only): the trading state in force, as `trading_state()` reads it. */
export const READ_TRADING_STATE = `${PRELUDE}
return cjson.encode(trading_state())
`;
