import { runNodeScript } from "./run-node.ts";
/**
 * `npm run plan` (dev/plan-cli.ts): flag handling without a governor, then
 * real plans against a local stack (dev/stack.ts on free ports).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../dev/free-port.ts";
import {
  envWithoutStackOverrides,
  startPrivateStack,
  type PrivateStack,
} from "../../dev/stack-client.ts";
import { waitUntil } from "../support/wait.ts";

const dir = mkdtempSync(join(tmpdir(), "gov-plan-cli-test-"));

/** The test's environment without anything that would point the CLI or the stack elsewhere. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return envWithoutStackOverrides({ GOV_STACK_FILE: join(dir, "none.json"), ...extra });
}

function cli(args: string[], env: NodeJS.ProcessEnv = cleanEnv(), script = "dev/plan-cli.ts") {
  return runNodeScript(script, args, env);
}

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("plan CLI flags", () => {
  it("--help documents every flag and exits 0", async () => {
    const { code, stdout, stderr } = await cli(["--help"]);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    for (const flag of [
      "--plan-id",
      "--symbol",
      "--action",
      "--decision",
      "--side",
      "--qty",
      "--notional",
      "--leverage",
      "--score",
      "--reduce-only",
      "--url",
      "--secret",
      "--stack-file",
      "--json",
      "--explain",
      "--wait",
      "--token",
      "--help",
    ]) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toMatch(/GOV_URL/);
    expect(stdout).toMatch(/GOV_WEBHOOK_SECRET/);
  });

  it("an unknown flag exits 2 with one clear line", async () => {
    const { code, stdout, stderr } = await cli(["--symbol", "BTCUSDT", "--bogus"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/unknown flag --bogus/);
  });

  it("a missing --symbol exits 2", async () => {
    const { code, stderr } = await cli(["--score", "5"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--symbol is required/);
  });

  it("a flag without its value exits 2", async () => {
    const { code, stderr } = await cli(["--symbol"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--symbol needs a value/);
  });

  it("a non-numeric --score (or --qty) exits 2", async () => {
    const score = await cli(["--symbol", "BTCUSDT", "--score", "high"]);
    expect(score.code).toBe(2);
    expect(score.stderr).toMatch(/--score must be a number, got "high"/);
    const qty = await cli(["--symbol", "BTCUSDT", "--qty", "1e999"]);
    expect(qty.code).toBe(2);
    expect(qty.stderr).toMatch(/--qty must be a number/);
  });

  it("without a stack file, --url or --secret, exits 1 and says what to do", async () => {
    const { code, stderr } = await cli(["--symbol", "BTCUSDT"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/no stack file at .*none\.json.*npm start/);
  });
});

describe.skipIf(process.platform !== "linux")("plan CLI against a local stack", () => {
  let stack: PrivateStack;
  let stackFile: string;
  const stackOutput: string[] = [];

  beforeAll(async () => {
    stack = await startPrivateStack({ onOutput: (line) => stackOutput.push(line) });
    stackFile = stack.stackFile;
  }, 90_000);

  afterAll(async () => {
    expect(await stack?.stop()).toBe(0);
  }, 30_000);

  it("runs against a stack without its cron (--no-cron), which says so", async () => {
    const off = `cron: off (--no-cron); the sweep runs when called: GET ${stack.info.governor}/__scheduled?cron=*+*+*+*+*`;
    // Printed right after the ready line.
    await waitUntil(() => stackOutput.includes(off), "the stack's cron line");
    expect(stackOutput.filter((line) => line.startsWith("cron"))).toEqual([off]);
  });

  it("sends a signed plan and prints the decision (no universe => active_slots_no_policy)", async () => {
    const { code, stdout, stderr } = await cli(
      ["--symbol", "BTCUSDT", "--score", "5", "--plan-id", "cli-test-1"],
      cleanEnv({ GOV_STACK_FILE: stackFile }),
    );
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^BLOCK active_slots_no_policy\n/);
    expect(stdout).toMatch(/plan\s+cli-test-1 BTCUSDT/);
  });

  it("under the reason: why, and what would change it", async () => {
    const { stdout } = await cli(["--symbol", "BTCUSDT"], cleanEnv({ GOV_STACK_FILE: stackFile }));
    const [head, why, next] = stdout.split("\n");
    expect(head).toBe("BLOCK active_slots_no_policy");
    expect(why).toBe(
      "  why      no universe: quantum:policy:current has no valid universe_symbols, so every entry is blocked",
    );
    expect(next).toBe(
      "  next     set the universe: HSET quantum:policy:current universe_symbols '[\"BTCUSDT\"]' " +
        "(on the local stack: npm run universe -- BTCUSDT ...)",
    );
  });

  it("--explain shows the gate path: the universe fails, nothing after it ran", async () => {
    const { code, stdout } = await cli(
      ["--symbol", "BTCUSDT", "--explain", "--wait"],
      cleanEnv({ GOV_STACK_FILE: stackFile }),
    );
    expect(code).toBe(0);
    expect(stdout).toContain(
      [
        "  path     ✘ universe    no universe policy",
        "           – positions   not reached",
        "           – regime      not reached",
        "           – correlation not reached",
        "           – margin      not reached",
        "           – slots       not reached",
        "           → BLOCK active_slots_no_policy",
      ].join("\n"),
    );
    // --wait returns at once when nothing is waiting for a close.
    expect(stdout).not.toContain("waiting for the close");
  });

  it("--json prints the raw, parseable decision; --stack-file and flags for every field", async () => {
    const { code, stdout } = await cli([
      "--stack-file",
      stackFile,
      "--json",
      "--plan-id",
      "cli-test-2",
      "--symbol",
      "ETHUSDT",
      "--side",
      "LONG",
      "--qty",
      "0.5",
      "--notional",
      "1000",
      "--leverage",
      "5",
      "--score=-1.5",
    ]);
    expect(code).toBe(0);
    const body = JSON.parse(stdout);
    expect(body).toMatchObject({
      plan_id: "cli-test-2",
      decision: "BLOCK",
      reason: "active_slots_no_policy",
    });
  });

  it("closes (--reduce-only) are allowed; another --decision is IGNORED", async () => {
    const env = cleanEnv({ GOV_STACK_FILE: stackFile });
    const close = await cli(["--symbol", "BTCUSDT", "--reduce-only", "--json"], env);
    expect(JSON.parse(close.stdout)).toMatchObject({ decision: "ALLOW" });
    const ignored = await cli(["--symbol", "BTCUSDT", "--decision", "HOLD"], env);
    expect(ignored.code).toBe(0);
    expect(ignored.stdout).toMatch(/^IGNORED/);
  });

  it("GOV_URL and GOV_WEBHOOK_SECRET reach any governor without a stack file", async () => {
    const { code, stdout } = await cli(
      ["--symbol", "BTCUSDT"],
      cleanEnv({ GOV_URL: stack.info.governor, GOV_WEBHOOK_SECRET: stack.info.webhook_secret }),
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/^BLOCK active_slots_no_policy/);
  });

  it("a wrong --secret exits 1 and prints the 401 JSON error", async () => {
    const { code, stdout, stderr } = await cli([
      "--stack-file",
      stackFile,
      "--secret",
      "not-the-secret",
      "--symbol",
      "BTCUSDT",
    ]);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/HTTP 401/);
    const json = JSON.parse(stderr.slice(stderr.indexOf("{")));
    expect(json).toEqual({
      error: { code: "unauthorized", message: expect.any(String) },
    });
  });

  it("an invalid plan exits 1 with the 400 error", async () => {
    const { code, stderr } = await cli(["--stack-file", stackFile, "--symbol", "btc"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/HTTP 400: invalid_plan/);
  });

  it("an unreachable governor exits 1 with one line", async () => {
    const { code, stderr } = await cli([
      "--url",
      `http://127.0.0.1:${await freePort()}`,
      "--secret",
      "x",
      "--symbol",
      "BTCUSDT",
    ]);
    expect(code).toBe(1);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/failed: connect ECONNREFUSED/);
  });

  it("npm run universe sets the universe; the next plan passes that gate", async () => {
    const env = cleanEnv({ GOV_STACK_FILE: stackFile });
    const universe = (args: string[]) => cli(args, env, "dev/universe-cli.ts");
    expect((await universe([])).stdout).toMatch(/^no universe \(quantum:policy:current/);
    const set = await universe(["BTCUSDT"]);
    expect(set.code).toBe(0);
    expect(set.stdout).toBe(
      'universe set (quantum:policy:current universe_symbols): ["BTCUSDT"]\n',
    );
    const added = await universe(["--add", "ETHUSDT", "BTCUSDT"]);
    expect(added.stdout).toContain('["BTCUSDT","ETHUSDT"]');
    expect((await universe([])).stdout).toContain('["BTCUSDT","ETHUSDT"]');

    // The empty simulator has no klines for BTCUSDT: the regime gate decides now.
    const { stdout } = await cli(["--symbol", "BTCUSDT", "--explain"], env);
    expect(stdout.startsWith("BLOCK active_slots_regime_unavailable\n")).toBe(true);
    expect(stdout).toContain("  why      no regime for BTCUSDT");
    expect(stdout).toContain("✔ universe    BTCUSDT is one of 2 symbols");
    expect(stdout).toContain("✔ positions   0 open (now)");
    expect(stdout).toContain("✘ regime      unavailable: ");
  });

  it("npm run universe refuses a bad symbol (2) and a missing stack (1)", async () => {
    const env = cleanEnv({ GOV_STACK_FILE: stackFile });
    const bad = await cli(["btc"], env, "dev/universe-cli.ts");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a symbol .*: btc/);
    const none = await cli(["BTCUSDT"], cleanEnv(), "dev/universe-cli.ts");
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no stack file at .*none\.json.*npm start/);
  });
});
