import { runNodeScript } from "./run-node.ts";
/**
 * `npm run smoke` (scripts/smoke.ts): flag handling, then the checks against a
 * local stack (dev/stack.ts on free ports), passing and failing for the reasons
 * an operator meets after a deployment.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../dev/free-port.ts";
import {
  envWithoutStackOverrides,
  startPrivateStack,
  type PrivateStack,
} from "../../dev/stack-client.ts";

const dir = mkdtempSync(join(tmpdir(), "gov-smoke-test-"));

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = envWithoutStackOverrides({ GOV_STACK_FILE: join(dir, "none.json"), ...extra });
  delete env.GOV_READ_TOKEN;
  return env;
}

/** Run the smoke CLI the way `npm run smoke -- ...` does. */
function smoke(args: string[], env: NodeJS.ProcessEnv = cleanEnv()) {
  return runNodeScript("scripts/smoke.ts", ["--", ...args], env);
}

function envFile(name: string, lines: Record<string, string>): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    Object.entries(lines)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
  );
  return path;
}

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("smoke CLI flags", () => {
  it("--help lists the checks, the flags and the exit codes", async () => {
    const { code, stdout } = await smoke(["--help"]);
    expect(code).toBe(0);
    for (const text of ["--url", "--env-file", "GOV_WEBHOOK_SECRET", "GOV_READ_TOKEN", "401"]) {
      expect(stdout).toContain(text);
    }
    expect(stdout).toMatch(/Exit codes: 0 every check passed, 1 .*2 bad flags/s);
  });

  it("without --url exits 2", async () => {
    const { code, stderr } = await smoke(["--env-file", envFile("a.env", {})]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--url is required/);
  });

  it("an env file without the read token exits 2 and names it", async () => {
    const file = envFile("b.env", { GOV_WEBHOOK_SECRET: "x" });
    const { code, stderr } = await smoke(["--url", "http://127.0.0.1:9", "--env-file", file]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/GOV_READ_TOKEN missing from .*b\.env/);
  });

  it("a missing env file exits 2", async () => {
    const { code, stderr } = await smoke([
      "--url",
      "http://127.0.0.1:9",
      "--env-file",
      join(dir, "nope.env"),
    ]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/cannot read --env-file .*nope\.env/);
  });

  it("an unreachable governor exits 1 with a clear line", async () => {
    const file = envFile("c.env", { GOV_WEBHOOK_SECRET: "x", GOV_READ_TOKEN: "y" });
    const url = `http://127.0.0.1:${await freePort()}`;
    const { code, stderr } = await smoke(["--url", url, "--env-file", file]);
    expect(code).toBe(1);
    expect(stderr).toContain(`smoke: FAILED: the governor at ${url} did not answer`);
  });
});

describe.skipIf(process.platform !== "linux")("smoke checks against a local stack", () => {
  let stack: PrivateStack;
  let good: string;

  /** One Redis command through the stack's REST bridge. */
  async function redis(command: unknown[]): Promise<unknown> {
    const response = await fetch(stack.info.redis_rest.url, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.info.redis_rest.token}` },
      body: JSON.stringify(command),
    });
    return ((await response.json()) as { result: unknown }).result;
  }

  async function simFaults(faults: unknown[] | null) {
    await fetch(`${stack.info.exchange.url}/__sim/faults`, {
      method: faults ? "PUT" : "DELETE",
      headers: { "content-type": "application/json" },
      body: faults ? JSON.stringify(faults) : undefined,
    });
  }

  beforeAll(async () => {
    // The demo world, and no cron (a private stack's default): a sweep at a minute boundary
    // adds two keys while the first test checks that the smoke run leaves Redis as it was.
    stack = await startPrivateStack({ env: { GOV_STACK_EMPTY: "0" } });
    good = envFile("good.env", {
      GOV_WEBHOOK_SECRET: stack.info.webhook_secret,
      GOV_READ_TOKEN: stack.info.read_token,
    });
  }, 90_000);

  afterAll(async () => {
    expect(await stack?.stop()).toBe(0);
  }, 30_000);

  afterEach(() => simFaults(null));

  it("passes every check and leaves Redis as it was", async () => {
    const before = await redis(["dbsize"]);
    const { code, stdout, stderr } = await smoke([
      "--url",
      stack.info.governor,
      "--env-file",
      good,
    ]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout.match(/^ {2}ok {4}/gm)).toHaveLength(8);
    expect(stdout).toMatch(/signed plan IGNORED: smoke-\S+ IGNORED/);
    expect(stdout).toMatch(/smoke: all checks passed\n$/);
    expect(await redis(["dbsize"])).toBe(before);
    expect(await redis(["keys", "*smoke-*"])).toEqual([]);
  });

  it("takes the JSON secrets file wrangler deploy --secrets-file takes", async () => {
    const file = join(dir, "secrets.json");
    writeFileSync(
      file,
      JSON.stringify({
        UPSTASH_REDIS_REST_TOKEN: "not read by the smoke check",
        GOV_WEBHOOK_SECRET: stack.info.webhook_secret,
        GOV_READ_TOKEN: stack.info.read_token,
      }),
    );
    const { code, stdout } = await smoke(["--url", stack.info.governor, "--env-file", file]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/smoke: all checks passed/);
  });

  it("a wrong webhook secret fails the signed plan and says which secret", async () => {
    const file = envFile("bad-secret.env", {
      GOV_WEBHOOK_SECRET: "not-the-secret",
      GOV_READ_TOKEN: stack.info.read_token,
    });
    const { code, stderr } = await smoke(["--url", stack.info.governor, "--env-file", file]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/FAIL {2}signed plan IGNORED: .*GOV_WEBHOOK_SECRET differs/);
    expect(stderr).toMatch(/smoke: FAILED: 1 check\(s\): signed plan IGNORED\n$/);
  });

  it("a wrong read token fails the token checks", async () => {
    const file = envFile("bad-token.env", {
      GOV_WEBHOOK_SECRET: stack.info.webhook_secret,
      GOV_READ_TOKEN: "not-the-token",
    });
    const { code, stderr } = await smoke(["--url", stack.info.governor, "--env-file", file]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/FAIL {2}status with the token: .*expected HTTP 200, got 401/);
  });

  it("Binance refusing the governor's location (HTTP 451) fails the status check", async () => {
    await simFaults(
      ["/fapi/v3/positionRisk", "/fapi/v3/account"].map((path) => ({ path, status: 451 })),
    );
    const { code, stderr } = await smoke(["--url", stack.info.governor, "--env-file", good]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/FAIL {2}status with the token: Binance positions unavailable/);
  });
});
