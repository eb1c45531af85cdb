/**
 * A client generated from the OpenAPI document by a maintained generator
 * (openapi-typescript, types for openapi-fetch) type-checks the calls the
 * Apply Layer and operators make: the webhook's signature headers are required,
 * `reason` is exactly the reason table (lib/plans/reasons.ts), each route's
 * error codes are exactly what its handlers answer with; a reason or an error
 * code outside them, or a webhook call without its signature, does not compile.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import openapiTS, { astToString } from "openapi-typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../lib/http/errors.ts";
import { REASONS } from "../../lib/plans/reasons.ts";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
/**
 * The app, imported at run time only: lib/http is typed against the Workers
 * runtime (Env, CryptoKey), which this Node project's type check does not load.
 * The route serving the document needs no binding, so it runs here as it is.
 */
const APP_MODULE: string = "../../lib/http/app.ts";
type RequestOnly = { request(path: string): Response | Promise<Response> };
const TSC = join(
  resolve(createRequire(import.meta.url).resolve("typescript"), "../.."),
  "bin",
  "tsc",
);

/** A TypeScript union of string literals. */
const union = (values: readonly string[]) => values.map((v) => JSON.stringify(v)).join(" | ");

const PRELUDE = `
import createClient from "openapi-fetch";
import type { components, paths } from "./governor-api";
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Reason = NonNullable<components["schemas"]["Decision"]["reason"]>;
type PostPlan = paths["/v1/plans"]["post"];
type CodeOf<R> = R extends { content: { "application/json": { error: { code: infer C } } } } ? C : never;
const client = createClient<paths>({ baseUrl: "http://127.0.0.1:8787" });
const plan = { plan_id: "plan-1", symbol: "BTCUSDT", action: "OPEN_LONG", decision: "EXECUTE", score: 1.8 };
`;

/** Files to type-check, by name: the valid client and one file per thing that must not compile. */
const CASES: Record<string, string> = {
  "client-call.ts": `${PRELUDE}
export async function submit(timestamp: string, signature: string) {
  const { data, error } = await client.POST("/v1/plans", {
    params: { header: { "X-Governor-Timestamp": timestamp, "X-Governor-Signature": signature } },
    body: plan,
  });
  if (data) {
    const reason: Reason | undefined = data.reason;
    if (reason === "active_slots_waiting_rotation_close") return data.rotation?.close_plan_id;
    return data.decision;
  }
  return error?.error.code;
}
export async function planState(token: string) {
  const { data, error } = await client.GET("/v1/plans/{plan_id}", {
    params: { path: { plan_id: "plan-1" } },
    headers: { authorization: \`Bearer \${token}\` },
  });
  return data?.permit ?? error?.error.code;
}
// The generated types say exactly what the governor's tables say.
export const reasonsAreTheTable: Equals<Reason, ${union(Object.values(REASONS))}> = true;
export const postPlan400: Equals<CodeOf<PostPlan["responses"][400]>, ${union([ERROR_CODES.invalidJson, ERROR_CODES.invalidPlan])}> = true;
export const postPlan401: Equals<CodeOf<PostPlan["responses"][401]>, ${union([ERROR_CODES.unauthorized])}> = true;
export const postPlan413: Equals<CodeOf<PostPlan["responses"][413]>, ${union([ERROR_CODES.payloadTooLarge])}> = true;
export const postPlan503: Equals<CodeOf<PostPlan["responses"][503]>, ${union([ERROR_CODES.configInvalid, ERROR_CODES.dependencyUnavailable])}> = true;
export const planId400: Equals<CodeOf<paths["/v1/plans/{plan_id}"]["get"]["responses"][400]>, ${union([ERROR_CODES.invalidPlanId])}> = true;
`,
  "wrong-reason.ts": `${PRELUDE}
export const reason: Reason = "active_slots_waiting_for_close";
`,
  "wrong-error-code.ts": `${PRELUDE}
export const code: CodeOf<PostPlan["responses"][400]> = "unauthorized";
`,
  "unsigned-call.ts": `${PRELUDE}
export const answer = client.POST("/v1/plans", { body: plan });
`,
};

let dir: string;
let errors: { file: string; line: string }[];

beforeAll(async () => {
  const { app } = (await import(APP_MODULE)) as { app: RequestOnly };
  const response = await app.request("/openapi.json");
  expect(response.status).toBe(200);
  const document = (await response.json()) as Parameters<typeof openapiTS>[0];
  // Inside the repository, so the client files resolve openapi-fetch from its node_modules.
  mkdirSync(join(ROOT, ".dev"), { recursive: true });
  dir = mkdtempSync(join(ROOT, ".dev", "openapi-client-"));
  writeFileSync(join(dir, "governor-api.d.ts"), astToString(await openapiTS(document)));
  for (const [name, source] of Object.entries(CASES)) writeFileSync(join(dir, name), source);
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: "ES2023",
        module: "ESNext",
        moduleResolution: "Bundler",
        lib: ["ES2023", "DOM"],
        types: [],
      },
      include: ["*.ts"],
    }),
  );
  const output = await promisify(execFile)(
    process.execPath,
    [TSC, "-p", ".", "--pretty", "false"],
    {
      cwd: dir,
    },
  )
    .then(({ stdout }) => stdout)
    .catch((failure: { stdout?: string }) => failure.stdout ?? String(failure));
  errors = output
    .split("\n")
    .filter((line) => / error TS\d+:/.test(line))
    .map((line) => ({ file: line.slice(0, line.indexOf("(")), line }));
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const errorsIn = (file: string) => errors.filter((e) => e.file === file).map((e) => e.line);

describe("a client generated from /openapi.json with openapi-typescript", () => {
  it("type-checks signed webhook calls and read calls, with the reason and error-code tables exact", () => {
    expect(errorsIn("client-call.ts")).toEqual([]);
    expect(errorsIn("governor-api.d.ts")).toEqual([]);
  });

  it("refuses a reason code that is not in the table", () => {
    expect(errorsIn("wrong-reason.ts")).toEqual([
      expect.stringMatching(
        /TS(2322|2820): Type '"active_slots_waiting_for_close"' is not assignable/,
      ),
    ]);
  });

  it("refuses an error code the route does not answer with", () => {
    expect(errorsIn("wrong-error-code.ts")).toEqual([
      expect.stringMatching(/TS2322: Type '"unauthorized"' is not assignable/),
    ]);
  });

  it("refuses a webhook call without the signature headers", () => {
    const found = errorsIn("unsigned-call.ts");
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/params/);
  });

  it("reported nothing else", () => {
    const files = new Set(errors.map((e) => e.file));
    expect([...files].sort()).toEqual(
      ["unsigned-call.ts", "wrong-error-code.ts", "wrong-reason.ts"].sort(),
    );
  });
});
