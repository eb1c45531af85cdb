/**
 * `npm run soak`: the randomized interleavings of test/workers/interleavings.test.ts
 * with many more sequences (SOAK_RUNS, default 10,000), against the same local
 * services as the workers project. It runs every sequence and prints a census of
 * violation kinds; SOAK_SHRINK=1 stops at the first failure and shrinks it, and
 * SOAK_SEED=<seed> replays a reported run.
 */
import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

declare module "vitest" {
  interface ProvidedContext {
    /** Read by test/workers/interleavings.test.ts. */
    interleavingRuns?: number;
    interleavingSeed?: number;
    interleavingCollect?: boolean;
  }
}

const runs = Number(process.env.SOAK_RUNS ?? 10_000);
const seed = process.env.SOAK_SEED === undefined ? undefined : Number(process.env.SOAK_SEED);

export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  plugins: [
    cloudflareTest(async ({ inject }) => ({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: { bindings: inject("workerBindings") },
    })),
  ],
  test: {
    name: "soak",
    include: ["test/workers/interleavings.test.ts"],
    globalSetup: ["test/setup/workers-global.ts"],
    provide: {
      interleavingRuns: runs,
      // Count every violation kind over the whole soak (SOAK_SHRINK=1: stop and shrink the first).
      interleavingCollect: process.env.SOAK_SHRINK !== "1",
      ...(seed === undefined ? {} : { interleavingSeed: seed }),
    },
    // The test sets its own timeout from the number of runs.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    onConsoleLog: (log) => !log.includes('"msg":"governor.'),
  },
});
