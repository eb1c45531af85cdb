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
