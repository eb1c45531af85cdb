/**
 * Binance is called only from near Binance. Placement (`[placement] region =
 * "aws:ap-northeast-1"` in wrangler.toml) moves a Worker's fetch handler to the
 * Cloudflare location nearest AWS Tokyo, but it does not move queue consumers
 * or cron triggers. Those two handlers therefore do no Binance work themselves:
 * they forward it, signed, over the PLACED service binding (a binding to this
 * same Worker) to an internal route of the placed fetch handler, which runs the
 * one evaluation / sweep code path the webhook uses.
 *
 * @see https://developers.cloudflare.com/workers/configuration/placement/
 * @see https://developers.cloudflare.com/workers/runtime-apis/bindings/service-bindings/
 */
import type { GovernorContext } from "../context.ts";
import { ConfigError } from "../errors.ts";
import { signedHeaders } from "../client/signature.ts";

/** The wrangler.toml service binding to this Worker itself. */
export const PLACED_BINDING = "PLACED";

/** Internal routes of the fetch handler; signed like the webhook, never listed in /openapi.json. */
export const INTERNAL_ROUTES = {
  queue: "/__internal/queue",
  sweep: "/__internal/sweep",
} as const;

/** What is used of the service binding (a Fetcher). */
interface PlacedBinding {
  fetch(url: string, init: RequestInit): Promise<Response>;
}

/** Any origin reaches the bound Worker; this one says what it is in logs. */
const INTERNAL_ORIGIN = "https://governor.internal";

/** The placed fetch handler could not be reached, or did not answer 200. */
export class PlacedCallError extends Error {
  override name = "PlacedCallError";
  /** HTTP status of the placed handler's answer; undefined when none came back. */
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

/**
 * Where a placed handler ran, for the operators' log lines: the `cf-placement`
 * request header Cloudflare adds when placement is on (`remote-NRT`, `local-SFO`),
 * else the colo of the request, else null (local runs).
 */
export function placementOf(request: Request): string | null {
  const header = request.headers.get("cf-placement");
  if (header) return header;
  const colo = (request as { cf?: { colo?: unknown } }).cf?.colo;
  return typeof colo === "string" ? colo : null;
}

/**
 * POST `payload` to the placed fetch handler's internal `path`, signed with the
 * webhook secret, and return its JSON answer. Throws ConfigError when the binding
 * is missing, PlacedCallError when the call fails or answers anything but 200.
 */
export async function callPlaced(
  env: object,
  gov: Pick<GovernorContext, "config" | "now">,
  path: (typeof INTERNAL_ROUTES)[keyof typeof INTERNAL_ROUTES],
  payload: unknown,
): Promise<unknown> {
  const binding = (env as Record<string, unknown>)[PLACED_BINDING] as PlacedBinding | undefined;
  if (typeof binding?.fetch !== "function") {
    throw new ConfigError([
      `${PLACED_BINDING} is not bound: wrangler.toml needs [[services]] binding = "${PLACED_BINDING}" to this Worker`,
    ]);
  }
  const body = JSON.stringify(payload);
  let response: Response;
  try {
    response = await binding.fetch(`${INTERNAL_ORIGIN}${path}`, {
      method: "POST",
      headers: await signedHeaders(gov.config.webhookSecret, body, gov.now()),
      body,
    });
  } catch (error) {
    throw new PlacedCallError(`${path} could not be reached`, undefined, { cause: error });
  }
  const text = await response.text();
  if (response.status !== 200) {
    const code = /"code":"([a-z_]+)"/.exec(text)?.[1] ?? "error";
    throw new PlacedCallError(
      `${path} answered HTTP ${response.status} (${code})`,
      response.status,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new PlacedCallError(`${path} answered a body that is not JSON`, 200, { cause: error });
  }
}
