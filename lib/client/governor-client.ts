/**
 * A small client for the governor's webhook (`POST /v1/plans`, docs/contract.md §4), for the
 * Apply Layer's TypeScript side, `npm run plan` and `npm run smoke`. Its Python
 * twin is clients/python/governor_client.py. Standalone: it uses only `fetch`,
 * WebCrypto and ./signature.ts, so it runs in Node ≥ 20, browsers and Workers.
 *
 * `submitPlan` signs the plan, sends it, and returns the decision body (ALLOW,
 * BLOCK with its reason, or IGNORED). Every other answer is a typed error:
 * 400 InvalidPlanError, 401 UnauthorizedError, 409 PlanIdConflictError (the
 * plan_id was used for a different plan), 413 PayloadTooLargeError, 503 (or no
 * answer) GovernorUnavailableError. A 503 means nothing was granted and the same
 * plan may be sent again: it is retried with a short, bounded backoff. A timeout
 * is not retried (each attempt may take the whole timeout; the caller decides).
 */
import { signedHeaders } from "./signature.ts";

export interface Decision {
  plan_id: string;
  decision: "ALLOW" | "BLOCK" | "IGNORED";
  reason?: string;
  replayed?: boolean;
  [field: string]: unknown;
}

/** One answer as received: status, parsed body (or the text when not JSON), and the text. */
export interface GovernorResponse {
  status: number;
  body: unknown;
  text: string;
}

/** Any answer but a decision. `status` is undefined when no answer came back. */
export class GovernorError extends Error {
  override name = "GovernorError";
  readonly status: number | undefined;
  /** The error code of the governor's `{ error: { code, message } }`, or a client-side one. */
  readonly code: string;
  readonly body: unknown;
  constructor(
    message: string,
    status: number | undefined,
    code: string,
    body?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}
/** 400: the body is not JSON or not a plan. */
export class InvalidPlanError extends GovernorError {
  override name = "InvalidPlanError";
}
/** 401: missing or bad signature, or a timestamp more than 300 s away. */
export class UnauthorizedError extends GovernorError {
  override name = "UnauthorizedError";
}
/** 409: this plan_id already decided a different plan (docs/contract.md); nothing was granted. */
export class PlanIdConflictError extends GovernorError {
  override name = "PlanIdConflictError";
}
/** 413: the body is over 16 KiB. */
export class PayloadTooLargeError extends GovernorError {
  override name = "PayloadTooLargeError";
}
/** 503, a timeout or no connection: nothing was granted; the plan may be sent again. */
export class GovernorUnavailableError extends GovernorError {
  override name = "GovernorUnavailableError";
}

const ERRORS: Record<number, typeof GovernorError> = {
  400: InvalidPlanError,
  401: UnauthorizedError,
  409: PlanIdConflictError,
  413: PayloadTooLargeError,
  503: GovernorUnavailableError,
};

/** The typed error of a non-decision answer. */
export function errorFor(response: GovernorResponse): GovernorError {
  const error = (response.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof error?.code === "string" ? error.code : `http_${response.status}`;
  const detail = typeof error?.message === "string" ? `: ${error.message}` : "";
  const Type = ERRORS[response.status] ?? GovernorError;
  return new Type(
    `governor answered HTTP ${response.status} (${code})${detail}`,
    response.status,
    code,
    response.body,
  );
}

export interface GovernorClientOptions {
  /** e.g. `https://governor-active-slots-production.example.workers.dev` */
  baseUrl: string;
  /** GOV_WEBHOOK_SECRET */
  webhookSecret: string;
  /** ms per attempt. @default 3000 */
  timeoutMs?: number;
  /** Attempts when the governor answers 503 (1 = no retry). @default 3 */
  maxAttempts?: number;
  /** ms before the first retry; doubled for each further one. @default 200 */
  backoffMs?: number;
  /** unix ms, for the signature's timestamp. @default Date.now */
  now?: () => number;
}

export class GovernorClient {
  readonly url: string;
  readonly #secret: string;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #backoffMs: number;
  readonly #now: () => number;

  constructor(options: GovernorClientOptions) {
    this.url = `${options.baseUrl.replace(/\/+$/, "")}/v1/plans`;
    this.#secret = options.webhookSecret;
    this.#timeoutMs = options.timeoutMs ?? 3000;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.#backoffMs = options.backoffMs ?? 200;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Sign and send one plan (an object, or its exact JSON text) once; whatever the
   * status, return the answer. Throws GovernorUnavailableError when none came back.
   */
  async send(plan: object | string): Promise<GovernorResponse> {
    const rawBody = typeof plan === "string" ? plan : JSON.stringify(plan);
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: await signedHeaders(this.#secret, rawBody, this.#now()),
        body: rawBody,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new GovernorUnavailableError(
        `POST ${this.url} failed: ${unreachableReason(error, this.#timeoutMs)}`,
        undefined,
        "unreachable",
        undefined,
        { cause: error },
      );
    }
    return readAnswer(response);
  }

  /** Submit one plan and return the decision; 503s are retried (bounded), other errors thrown. */
  async submitPlan(plan: object): Promise<Decision> {
    const rawBody = JSON.stringify(plan);
    for (let attempt = 1; ; attempt++) {
      const response = await this.send(rawBody);
      if (response.status === 200 && isDecision(response.body)) return response.body;
      const error =
        response.status === 200
          ? new GovernorError("governor answered 200 without a decision", 200, "bad_answer")
          : errorFor(response);
      if (!(error instanceof GovernorUnavailableError) || attempt >= this.#maxAttempts) {
        throw error;
      }
      await new Promise((done) => setTimeout(done, this.#backoffMs * 2 ** (attempt - 1)));
    }
  }
}

function isDecision(body: unknown): body is Decision {
  const decision = (body as { decision?: unknown } | null)?.decision;
  return decision === "ALLOW" || decision === "BLOCK" || decision === "IGNORED";
}

/** Why a fetch with a `timeoutMs` deadline got no answer: the deadline, or the network's own words. */
export function unreachableReason(error: unknown, timeoutMs: number): string {
  const cause = (error as Error).cause as Error | undefined;
  return (error as Error).name === "TimeoutError"
    ? `no answer within ${timeoutMs} ms`
    : (cause?.message ?? (error as Error).message);
}

/** An answer's status and body: parsed JSON, or the text when it is not JSON. */
export async function readAnswer(
  response: Response,
): Promise<{ status: number; body: unknown; text: string }> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body, text };
}
