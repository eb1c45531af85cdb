/**
 * The exchange simulator's error catalogue: Binance's JSON error bodies
 * (`{code, msg}` with the HTTP status Binance pairs them with), the bodies of
 * injected fault statuses, and the edge's answers before any route.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 */

/** The weight limit per minute Binance names in its 429 message. */
const WEIGHT_LIMIT_1M = 2400;

export interface BinanceError {
  status: number;
  code: number;
  msg: string;
}

const err = (status: number, code: number, msg: string): BinanceError => ({ status, code, msg });

export const isBinanceError = (value: unknown): value is BinanceError =>
  typeof value === "object" && value !== null && "code" in value && "msg" in value;

export const E = {
  apiKeyFormat: () => err(401, -2014, "API-key format invalid."),
  apiKeyInvalid: () => err(401, -2015, "Invalid API-key, IP, or permissions for action."),
  signature: () => err(400, -1022, "Signature for this request is not valid."),
  recvWindow: () => err(400, -1021, "Timestamp for this request is outside of the recvWindow."),
  ahead: () => err(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."),
  mandatory: (name: string) =>
    err(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`),
  invalidParam: (name: string) =>
    err(400, -1130, `Data sent for parameter '${name}' is not valid.`),
  badRecvWindow: () => err(400, -1131, "recvWindow must be less than 60000"),
  duplicate: () => err(400, -1101, "Duplicate values for a parameter detected."),
  symbol: () => err(400, -1121, "Invalid symbol."),
  interval: () => err(400, -1120, "Invalid interval."),
  startEnd: () => err(400, -1023, "Start time is greater than end time."),
  notFound: (path: string, method: string) =>
    err(404, -5000, `Path ${path}, Method ${method} is invalid`),
  methodNotAllowed: (path: string, method: string) =>
    err(405, -5000, `Path ${path}, Method ${method} is invalid`),
};

/** Binance-style body for an injected fault status. */
export function faultError(status: number, path: string, serverTime: number, retryAfter: number) {
  switch (status) {
    case 429:
      return err(
        429,
        -1003,
        `Too many requests; current limit of IP(127.0.0.1) is ${WEIGHT_LIMIT_1M} requests per minute. Please use the websocket for live updates to avoid polling the API.`,
      );
    case 418:
      return err(
        418,
        -1003,
        `Way too many requests; IP(127.0.0.1) banned until ${serverTime + retryAfter * 1000}. Please use the websocket for live updates to avoid bans.`,
      );
    case 401:
      return E.apiKeyInvalid();
    case 403:
      return err(403, -1002, "You are not authorized to execute this request.");
    case 404:
      return E.notFound(path, "GET");
    case 408:
    case 504:
      return err(
        status,
        -1007,
        "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
      );
    case 500:
    case 502:
      return err(
        status,
        -1001,
        "Internal error; unable to process your request. Please try again.",
      );
    case 503:
      return err(
        503,
        -1008,
        "Server is currently overloaded with other requests. Please try again in a few minutes.",
      );
    default:
      return err(status, -1000, "An unknown error occurred while processing the request.");
  }
}

/**
 * Answers of Binance's edge before any route: the web application firewall's
 * 403 is an HTML page (not Binance's JSON error body); a restricted location
 * gets 451 with code 0.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 */
export function firewallAnswer(mode: "waf" | "restricted"): {
  status: number;
  headers: Record<string, string>;
  body: unknown;
} {
  if (mode === "waf") {
    return {
      status: 403,
      headers: { "Content-Type": "text/html" },
      body:
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">\n' +
        "<html><head><title>ERROR: The request could not be satisfied</title></head>" +
        "<body><h1>403 ERROR</h1><h2>The request could not be satisfied.</h2>" +
        "Request blocked. We can't connect to the server for this app or website at this time.</body></html>",
    };
  }
  return {
    status: 451,
    headers: {},
    body: {
      code: 0,
      msg: "Service unavailable from a restricted location according to 'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer service if you believe you received this message in error.",
    },
  };
}
