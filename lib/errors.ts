/** The configuration is unusable: the worker answers 503 and grants nothing. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly issues: readonly string[];
  constructor(issues: readonly string[]) {
    super(`invalid configuration: ${issues.join("; ")}`);
    this.issues = issues;
  }
}

/** Redis (the state store) could not be reached or answered garbage: nothing can be granted. */
export class StateStoreError extends Error {
  override name = "StateStoreError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Map any failure of a Redis call to StateStoreError (the caller answers 503). */
export function stateStoreFailure(error: unknown): never {
  if (error instanceof StateStoreError) throw error;
  throw new StateStoreError("Redis is unreachable or failed", { cause: error });
}

/** A plan_id already used for a different plan (another symbol, size, side...): 409, nothing granted. */
export class PlanConflictError extends Error {
  override name = "PlanConflictError";
}
