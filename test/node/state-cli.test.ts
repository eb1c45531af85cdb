import { runNodeScript } from "./run-node.ts";
/**
 * `npm run state` (dev/state-cli.ts): flag handling without a governor, then
 * show / halt / reduce / resume against a local stack (dev/stack.ts on free
 * ports), whose plans the trading state then decides.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  envWithoutStackOverrides,
  postPlan,
  startPrivateStack,
  type PrivateStack,
} from "../../dev/stack-client.ts";

const dir = mkdtempSync(join(tmpdir(), "gov-state-cli-test-"));

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = envWithoutStackOverrides({ GOV_STACK_FILE: join(dir, "none.json"), ...extra });
  delete env.GOV_READ_TOKEN;
  return env;
}

function cli(args: string[], env: NodeJS.ProcessEnv = cleanEnv()) {
  return runNodeScript("dev/state-cli.ts", args, env);
}

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("state CLI flags", () => {
  it("--help documents the commands, every flag and the exit codes", async () => {
    const { code, stdout, stderr } = await cli(["--help"]);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    for (const word of ["show", "halt", "reduce", "resume"]) expect(stdout).toContain(`  ${word}`);
    for (const flag of ["--reason", "--actor", "--url", "--token", "--stack-file", "--json"]) {
      expect(stdout).toContain(flag);
    }
    expect(stdout).toMatch(/GOV_ADMIN_TOKEN/);
    expect(stdout).toMatch(/Exit codes: 0 done .* 1 HTTP error .* 2 bad flags/s);
  });

  it.each([
    [[], /a command is required: show, halt, reduce or resume/],
    [["pause"], /unknown command "pause"/],
    [["halt"], /halt needs --reason "\.\.\."/],
    [["reduce", "--reason", "  "], /reduce needs --reason/],
    [["halt", "--reason", "x".repeat(201)], /--reason is 201 characters; at most 200/],
    [["halt", "--reason", "x", "--actor", "drop table"], /--actor must be 1-64 of/],
    [["halt", "exchange", "down"], /unexpected argument "exchange" \(quote a reason/],
    [["show", "--reason", "x"], /--reason is for halt, reduce and resume, not show/],
    [["halt", "--bogus"], /Unknown option '--bogus'/],
  ])("%j exits 2 naming the problem", async (args, message) => {
    const { code, stdout, stderr } = await cli(args);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(message);
    expect(stderr).toMatch(/\(see --help\)\n$/);
  });

  it("without a stack file, --url or --token: exits 1 and says what to do", async () => {
    const { code, stderr } = await cli(["halt", "--reason", "x"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /no stack file at .*none\.json: start the local stack \(npm start\) or pass --url \(or GOV_URL\) and --token \(or GOV_ADMIN_TOKEN\)/,
    );
  });
});

describe.skipIf(process.platform !== "linux")("state CLI against a local stack", () => {
  let stack: PrivateStack;
  const env = () => cleanEnv({ GOV_STACK_FILE: stack.stackFile });

  beforeAll(async () => {
    stack = await startPrivateStack();
  }, 90_000);

  afterAll(async () => {
    expect(await stack?.stop()).toBe(0);
  }, 30_000);

  it("show, halt, show, reduce, resume: each change printed with who, why and what it means", async () => {
    expect((await cli(["show"], env())).stdout).toBe(
      "ACTIVE\n  effect   entries are evaluated as usual\n",
    );

    const halt = await cli(["halt", "--reason", "exchange incident", "--actor", "alice"], env());
    expect(halt.code).toBe(0);
    expect(halt.stdout).toMatch(
      /^HALTED \(was ACTIVE\) by alice at \d{4}-\d\d-\d\dT[\d:.]+Z\n {2}why {6}exchange incident\n {2}effect {3}every entry is refused and no rotation starts; closes pass\n {2}next {5}npm run state -- resume --reason "\.\.\."\n$/,
    );
    expect((await cli(["show"], env())).stdout).toMatch(
      /^HALTED by alice at .*\n {2}why {6}exchange incident/,
    );
    const again = await cli(["halt", "--reason", "second"], env());
    expect(again.stdout).toMatch(
      /^already HALTED by alice at .*: nothing changed\n {2}why {6}exchange incident/,
    );

    // The governor now refuses entries with the state's reason code.
    const plan = await postPlan(stack.info.governor, stack.info.webhook_secret, {
      plan_id: "state-cli-1",
      symbol: "BTCUSDT",
      action: "OPEN",
      decision: "EXECUTE",
    });
    expect(plan.body).toMatchObject({ decision: "BLOCK", reason: "active_slots_halted" });

    expect((await cli(["reduce", "--reason", "wind down"], env())).stdout).toMatch(
      /^REDUCING \(was HALTED\) by cli:\S+ at .*\n {2}why {6}wind down\n {2}effect {3}no entry that adds risk/,
    );
    const resumed = await cli(["resume", "--json"], env());
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({
      state: "ACTIVE",
      previous: "REDUCING",
      changed: true,
      reason: "resumed from the command line",
    });
  });

  it("the read token cannot change the state: exits 1 with the governor's 403", async () => {
    const { code, stdout, stderr } = await cli(
      ["halt", "--reason", "x", "--token", stack.info.read_token],
      env(),
    );
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe(
      "state: governor answered HTTP 403: forbidden: the read token cannot change the trading state: use the admin token\n",
    );
  });
});
