export { startExchangeSim, type ExchangeSimHandle, type ExchangeSimOptions } from "./server.ts";
export { ExchangeState, type PositionInput, type PositionRow, type Fault } from "./state.ts";
export { hmacSha256Hex, signQuery, verifySignature, extractSignedPayload } from "./signature.ts";
export { generatePreset, type KlineRow, type Preset, PRESETS } from "./klines.ts";
