/**
 * The Python client (clients/python/governor_client.py) against a local stack:
 * runs its unittest suite with python3, the way the Apply Layer's CI would.
 */
import { spawn, spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  envWithoutStackOverrides,
  startPrivateStack,
  type PrivateStack,
} from "../../dev/stack-client.ts";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
const CLIENT_DIR = join(ROOT, "clients", "python");
const hasPython = spawnSync("python3", ["--version"]).status === 0;

function unittest(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn("python3", ["-m", "unittest", "-v", "test_governor_client"], {
      cwd: CLIENT_DIR,
      env: { ...env, PYTHONDONTWRITEBYTECODE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", fail);
    child.once("close", (code) => done({ code, output }));
  });
}

describe.skipIf(!hasPython || process.platform !== "linux")(
  "Python governor client against a local stack",
  () => {
    let stack: PrivateStack;

    beforeAll(async () => {
      // The empty stack: no policy, so an entry answers its BLOCK reason.
      stack = await startPrivateStack();
    }, 90_000);

    afterAll(async () => {
      expect(await stack?.stop()).toBe(0);
    }, 30_000);

    it("python3 -m unittest passes every test (standard library only)", async () => {
      const { code, output } = await unittest(
        envWithoutStackOverrides({
          GOVERNOR_URL: stack.info.governor,
          GOVERNOR_WEBHOOK_SECRET: stack.info.webhook_secret,
          GOVERNOR_REDIS_REST_URL: stack.info.redis_rest.url,
          GOVERNOR_REDIS_REST_TOKEN: stack.info.redis_rest.token,
        }),
      );
      expect(output).toMatch(/^Ran 14 tests in /m);
      expect(code, output).toBe(0);
      // The only test allowed to skip is the 409 one, and only against a governor that
      // replays a reused plan_id instead of answering plan_id_conflict.
      const skipped = output.match(/^test_\w+ .*\.\.\. skipped .*$/gm) ?? [];
      for (const line of skipped) expect(line).toMatch(/^test_a_reused_plan_id.*predates/);
    }, 120_000);

    it("without the stack's variables the suite says why it skips, and fails nothing", async () => {
      const { code, output } = await unittest(envWithoutStackOverrides());
      expect(code).toBe(0);
      expect(output).toMatch(
        /skipped 'GOVERNOR_URL and the other GOVERNOR_\* variables are not set'/,
      );
    });
  },
);
