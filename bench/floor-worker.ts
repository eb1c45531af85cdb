/**
 * The floor worker (bench only, never deployed): per request, the dependency
 * calls of a warm evaluation in the same order and concurrency, and nothing
 * else. A script call to the Redis REST bridge and the signed account call to
 * the exchange at the same time, then a second script call; payloads padded to
 * the sizes the benchmark measured for a real evaluation (query `in1`, `out1`,
 * `in2`, `out2`: bytes). The signing key is imported once per isolate.
 *
 * It is sent the very request the governor is sent (bench/direct.ts
 * `floorRequest`): the Apply Layer's signed plan POST, built, sent and its
 * answer parsed by the same client code. It does not read the plan; reading,
 * checking and deciding on it is the governor's own work. Its answer is
 * shorter than a decision (11 bytes against about 300).
 *
 * Served by workerd through Miniflare beside the governor (bench/direct.ts), so
 * `p50(evaluation) − p50(floor)` is the governor's own latency.
 */
interface FloorEnv {
  UPSTASH_REDIS_REST_URL: string;
  UPSTASH_REDIS_REST_TOKEN: string;
  BINANCE_BASE_URL: string;
  BINANCE_API_KEY: string;
  BINANCE_API_SECRET: string;
}

/** Returns ARGV[2] characters: the size of the answer an evaluation's script sends back. */
const PADDED_ANSWER = "return string.rep('x', tonumber(ARGV[2]))";

let signingKey: ReturnType<typeof crypto.subtle.importKey> | undefined;

async function scriptCall(env: FloorEnv, bytesIn: number, bytesOut: number): Promise<void> {
  const response = await fetch(env.UPSTASH_REDIS_REST_URL, {
    method: "POST",
    headers: { authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}` },
    body: JSON.stringify(["EVAL", PADDED_ANSWER, "0", "p".repeat(bytesIn), String(bytesOut)]),
  });
  await response.text();
}

async function accountCall(env: FloorEnv): Promise<void> {
  signingKey ??= crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(env.BINANCE_API_SECRET),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const query = `recvWindow=5000&timestamp=${Date.now()}`;
  const mac = await crypto.subtle.sign("HMAC", await signingKey, new TextEncoder().encode(query));
  const signature = [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const response = await fetch(
    `${env.BINANCE_BASE_URL}/fapi/v3/account?${query}&signature=${signature}`,
    {
      headers: { "X-MBX-APIKEY": env.BINANCE_API_KEY },
    },
  );
  await response.text();
}

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const size = new URL(request.url).searchParams;
    const bytes = (name: string) => Number(size.get(name) ?? 256);
    await Promise.all([scriptCall(env, bytes("in1"), bytes("out1")), accountCall(env)]);
    await scriptCall(env, bytes("in2"), bytes("out2"));
    return new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
  },
};
