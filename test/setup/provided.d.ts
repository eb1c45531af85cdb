declare module "vitest" {
  interface ProvidedContext {
    /** Worker bindings for the real local services, provided by test/setup/workers-global.ts. */
    workerBindings: Record<string, string>;
  }
}
export {};
