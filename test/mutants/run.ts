/**
 * `npm run test:mutants`: test the tests. Each mutant flips a comparison or
 * drops a condition in one Lua script of lib/rotation/lua; the workers suite
 * (without the slow randomized interleavings, unless --all) must then fail.
 * A mutant that survives is a missing test. The source is restored after
 * each mutant, and on Ctrl-C.
 *
 *   npm run test:mutants                 every mutant
 *   npm run test:mutants -- reduce-only  the mutants whose name contains the word
 *   npm run test:mutants -- --all        with the interleavings too
 *
 * Exit: 0 every mutant killed, 1 a mutant survived, 2 a mutant no longer applies.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "../..");
const LUA = "lib/rotation/lua";

interface Mutant {
  name: string;
  file: string;
  from: string;
  to: string;
}

const MUTANTS: Mutant[] = [
  {
    name: "confirmation without executed=true",
    file: "locks.ts",
    from: "if f.executed ~= 'true' then problem = 'not_executed'",
    to: "if false then problem = 'not_executed'",
  },
  {
    name: "confirmation without reduce-only",
    file: "locks.ts",
    from: "elseif f.reduceOnly ~= 'true' then problem = 'not_reduce_only'",
    to: "elseif false then problem = 'not_reduce_only'",
  },
  {
    name: "confirmation of another symbol",
    file: "locks.ts",
    from: "elseif f.symbol ~= lock.close_symbol then problem = 'symbol_mismatch' end",
    to: "elseif false then problem = 'symbol_mismatch' end",
  },
  {
    name: "confirmation appended before the lock",
    file: "locks.ts",
    from: "if not id or not id_after(id, lock.scan_from) then return nil, nil end",
    to: "if not id then return nil, nil end",
  },
  {
    name: "victim still open counts as closed",
    file: "locks.ts",
    from: "if s == lock.close_symbol then return 'open', id end",
    to: "if false then return 'open', id end",
  },
  {
    name: "timeout at the TTL instead of after it",
    file: "locks.ts",
    from: "if now_s - lock.created_at > lock.ttl_s then return 'expired', id, state end",
    to: "if now_s - lock.created_at >= lock.ttl_s then return 'expired', id, state end",
  },
  {
    name: "timeout on a partial read of apply.result",
    file: "locks.ts",
    from: "if phase == 'expired' and seen.caught_up then",
    to: "if phase == 'expired' then",
  },
  {
    name: "status view blind to results the sweep has not read",
    file: "status-view.ts",
    from: "local read_to_end = scan_confirmations(ctx.max_pages, true)",
    to: "local read_to_end = true",
  },
  {
    name: "status view counts a rejected result as a confirmation",
    file: "locks.ts",
    from: "if not problem then unread_confirmations[f.plan_id] = entry[1] end",
    to: "unread_confirmations[f.plan_id] = entry[1]",
  },
  {
    name: "completion over capacity",
    file: "locks.ts",
    from: "if after > verdict.desired then reason = R.overCapacity end",
    to: "if after > verdict.desired + 1 then reason = R.overCapacity end",
  },
  {
    name: "completion ignores a blocking gate",
    file: "locks.ts",
    from: "reason, details = verdict.block.reason, verdict.block.details",
    to: "details = verdict.block.details",
  },
  {
    name: "completion ignores the universe",
    file: "locks.ts",
    from: "local reason, details = by_state or universe_block(lock.new_symbol), nil",
    to: "local reason, details = by_state, nil",
  },
  {
    name: "timed-out close plan not cancelled",
    file: "locks.ts",
    from: "    cancel_close_plan(lock, 'timeout')\n",
    to: "",
  },
  {
    name: "final BLOCK keeps the rotation waiting",
    file: "record-decision.ts",
    from: "if lock then cancel_lock(r.plan_id, lock, r.reason) end",
    to: "",
  },
  {
    name: "second rotation for an incoming symbol",
    file: "evaluate-slots.ts",
    from: "if inflight then",
    to: "if false then",
  },
  {
    name: "entry while over capacity",
    file: "evaluate-slots.ts",
    from: "if h.count > desired then return decide('BLOCK', R.overCapacity) end",
    to: "if h.count > desired + 1 then return decide('BLOCK', R.overCapacity) end",
  },
  {
    name: "slot free at capacity",
    file: "evaluate-slots.ts",
    from: "if h.count < desired then",
    to: "if h.count <= desired then",
  },
  {
    name: "victim with a permit in flight",
    file: "evaluate-slots.ts",
    from: "not permit_in_flight(h, v.symbol)",
    to: "true",
  },
  {
    name: "rotation below the threshold",
    file: "evaluate-slots.ts",
    from: "plan.score < min_score",
    to: "plan.score < min_score - 1",
  },
  {
    name: "plan fingerprint ignored",
    file: "prelude.ts",
    from: "if stored == nil or stored == cjson.null or stored == ctx.fingerprint then return nil end",
    to: "if true then return nil end",
  },
  {
    name: "held market cache answered without its digest matching",
    file: "read-state.ts",
    from: "if offered == digest then",
    to: "if offered then",
  },
  {
    name: "held market cache answered without the digest in front of it matching",
    file: "read-state.ts",
    from: "if head and head == DIGEST_HEAD .. offered then",
    to: "if head and head ~= '' then",
  },
  {
    name: "held market cache answered although deleted",
    file: "read-state.ts",
    from: "if head and head == DIGEST_HEAD .. offered then",
    to: "if head then",
  },
  {
    name: "held universe answered without its digest matching",
    file: "read-state.ts",
    from: "if ctx.universe_digest == digest then",
    to: "if ctx.universe_digest then",
  },
  {
    name: "backoff read from the clock offset's key",
    file: "read-state.ts",
    from: "backoff_until = get(KEYS[n - 3]),",
    to: "backoff_until = get(KEYS[n - 2]),",
  },
  {
    name: "clock offset not read",
    file: "read-state.ts",
    from: "time_offset = get(KEYS[n - 2]),",
    to: "time_offset = nil,",
  },
  {
    name: "symbols open at the last evaluation not read",
    file: "read-state.ts",
    from: "local open_raw = get(KEYS[n - 1])",
    to: "local open_raw = nil",
  },
  {
    name: "a decision read after finalize wrote it answers the old one",
    file: "prelude.ts",
    from: "    decisions[pid] = text\n",
    to: "",
  },
  {
    name: "an incident read after a write answers the old one",
    file: "../../operators/lua/operators.ts",
    from: "  incidents[key] = raw\n",
    to: "",
  },
  {
    name: "an incident written before any read hides the others",
    file: "../../operators/lua/operators.ts",
    from: "  if not incidents then incident_of(key) end\n",
    to: "  incidents = incidents or {}\n",
  },
];

const filter = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const all = process.argv.includes("--all");
const selected = MUTANTS.filter((m) => filter.every((word) => m.name.includes(word)));
const files = readdirSync(join(ROOT, "test/workers"))
  .filter((f) => f.endsWith(".test.ts") && (all || f !== "interleavings.test.ts"))
  .map((f) => `test/workers/${f}`);

let original: { path: string; text: string } | null = null;
const restore = () => {
  if (original) writeFileSync(original.path, original.text);
  original = null;
};
process.on("SIGINT", () => {
  restore();
  process.exit(130);
});

const survivors: string[] = [];
let stale = false;
for (const mutant of selected) {
  const path = join(ROOT, LUA, mutant.file);
  const text = readFileSync(path, "utf8");
  if (!text.includes(mutant.from)) {
    console.log(`STALE    ${mutant.name}: "${mutant.from.trim()}" is no longer in ${mutant.file}`);
    stale = true;
    continue;
  }
  original = { path, text };
  writeFileSync(path, text.replace(mutant.from, mutant.to));
  const run = spawnSync("npx", ["vitest", "run", "--project", "workers", ...files], {
    cwd: ROOT,
    encoding: "utf8",
  });
  restore();
  const killed = run.status !== 0;
  // vitest's failed-test lines start with "×" (other output may contain one: fuzzed headers).
  const plain = run.stdout.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), "");
  const failing = (plain.match(/^\s*× .*$/gm) ?? [])
    .slice(0, 3)
    .map((line) => line.trim().slice(2))
    .join(" | ");
  console.log(`${killed ? "killed  " : "SURVIVED"} ${mutant.name}${killed ? ` (${failing})` : ""}`);
  if (!killed) survivors.push(mutant.name);
}
console.log(
  `${selected.length - survivors.length} of ${selected.length} mutants killed` +
    (survivors.length ? `; survivors: ${survivors.join(", ")}` : ""),
);
process.exit(stale ? 2 : survivors.length > 0 ? 1 : 0);
