/**
 * dev/cli-args.ts: what the command-line tools share, checked in a real
 * child process whose reader closes the pipe (`npm run plan -- … | head`).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const CLI_ARGS = join(import.meta.dirname, "../../dev/cli-args.ts");

/** A tool that prints forever; the reader takes one chunk and closes the pipe. */
function printUntilTheReaderLeaves(guarded: boolean) {
  const code = [
    `import { exitQuietlyWhenStdoutCloses } from ${JSON.stringify(CLI_ARGS)};`,
    guarded ? "exitQuietlyWhenStdoutCloses();" : "",
    "setInterval(() => console.log('line '.repeat(200)), 1);",
  ].join("\n");
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.once("data", () => child.stdout.destroy());
  return new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once("close", (exit) => resolve({ code: exit, stderr })),
  );
}

describe("exitQuietlyWhenStdoutCloses", () => {
  it("a closed stdout ends the tool with exit 0 and nothing on stderr", async () => {
    const { code, stderr } = await printUntilTheReaderLeaves(true);
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });

  it("without it the same tool crashes with EPIPE (what the guard prevents)", async () => {
    const { code, stderr } = await printUntilTheReaderLeaves(false);
    expect(stderr).toContain("EPIPE");
    expect(code).not.toBe(0);
  });
});
