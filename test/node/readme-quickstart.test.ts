/**
 * The README's quick start, executed: the fenced block after the
 * `<!-- quickstart -->` comment runs command by command on a fresh stack
 * (`npm start` on free ports, seeded with the demo world), and every `# →`
 * line under a command is output that command must print. README and
 * behaviour cannot drift apart.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../dev/free-port.ts";
import { envWithoutStackOverrides, startStack, type RunningStack } from "../../dev/stack-client.ts";
import { DEMO_WORLD } from "../../dev/world.ts";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const dir = mkdtempSync(join(tmpdir(), "gov-quickstart-test-"));

interface Step {
  command: string;
  /** Text the command's output must contain, one per `# →` line. */
  promises: string[];
}

/** The commands of the block after `<!-- quickstart`, each with the output it promises. */
function quickstart(readme: string): Step[] {
  const lines = readme.split("\n");
  const marker = lines.findIndex((line) => line.startsWith("<!-- quickstart"));
  if (marker < 0) throw new Error("README.md has no <!-- quickstart --> block");
  const open = lines.findIndex((line, i) => i > marker && line.startsWith("```"));
  const close = lines.findIndex((line, i) => i > open && line.startsWith("```"));
  const steps: Step[] = [];
  for (const line of lines.slice(open + 1, close)) {
    const promise = /^#\s*→\s?(.*)$/.exec(line);
    if (promise) {
      const step = steps.at(-1);
      if (!step) throw new Error(`"${line}" promises output before any command`);
      step.promises.push(promise[1]!.trim());
    } else if (line.trim() !== "" && !line.startsWith("#")) {
      steps.push({ command: line.replace(/\s+#\s.*$/, "").trim(), promises: [] });
    }
  }
  return steps;
}

function run(command: string, env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; output: string }>((done, fail) => {
    const child = spawn("sh", ["-c", command], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", fail);
    child.once("close", (code) => done({ code, output }));
  });
}

let stack: RunningStack | undefined;

afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe("the README", () => {
  it("keeps its two commands at the top", () => {
    const first = /```sh\n([\s\S]*?)```/.exec(README)?.[1] ?? "";
    expect(first).toMatch(/^npm install && npm start\s/m);
    expect(first).toMatch(/^npm test\s/m);
  });

  it("has a quick start that starts the stack, then promises output for each command", () => {
    const steps = quickstart(README);
    expect(steps[0]!.command).toBe("npm start");
    expect(steps.length).toBeGreaterThanOrEqual(4);
    for (const step of steps) expect(step.promises, step.command).not.toEqual([]);
    // `npm start` is dev/stack.ts, which the test starts itself (on free ports).
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toBe("node dev/stack.ts");
  });

  it("lists the commands the ready line suggests for the demo world", () => {
    const commands = quickstart(README).map((s) => s.command);
    for (const next of DEMO_WORLD.tryNext) expect(commands).toContain(next);
  });
});

describe.skipIf(process.platform !== "linux")("the README's quick start, executed", () => {
  it("prints what the README promises, command by command, on a fresh stack", async () => {
    const [start, ...steps] = quickstart(README);
    const stackFile = join(dir, "stack.json");
    const env = envWithoutStackOverrides({ GOV_STACK_FILE: stackFile });
    delete env.GOV_STACK_EMPTY;

    const args = start!.command.split(/\s+/).slice(start!.command.includes(" -- ") ? 3 : 2);
    stack = await startStack({
      env: {
        ...env,
        GOV_PORT: String(await freePort()),
        REDIS_REST_PORT: String(await freePort()),
        EXCHANGE_SIM_PORT: String(await freePort()),
      },
      args,
    });
    for (const promise of start!.promises) expect(stack.readyLine).toContain(promise);

    for (const step of steps) {
      const { code, output } = await run(step.command, env);
      expect(code, `${step.command}\n${output}`).toBe(0);
      for (const promise of step.promises) {
        expect(output, `${step.command} should print "${promise}"`).toContain(promise);
      }
    }
    expect(await stack.stop()).toBe(0);
    stack = undefined;
  }, 180_000);
});
