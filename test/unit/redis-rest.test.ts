/**
 * The thin Upstash REST call the scripts go through (lib/redis/rest.ts), with
 * fetch stubbed: what it sends, how each kind of answer comes back, the one
 * retry on a network error and none after the timeout, and the
 * read-your-writes token. The real protocol, end to end, is the workers
 * suite's (every evaluation runs its scripts this way against the bridge).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { createRedis } from "../../lib/redis/client.ts";
import { redisRest, RedisCommandError, restCommand } from "../../lib/redis/rest.ts";

const TOKEN = "rest-token-secret";
const rest = () => redisRest({ url: "https://redis.example/", token: TOKEN });

type Answer = { status?: number; body: string; headers?: Record<string, string> };

/** Stub fetch with answers (a thrown error for an Error), recording each call. */
function stubFetch(...answers: (Answer | Error)[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      const answer = answers.shift();
      if (!answer) throw new Error("unexpected call");
      if (answer instanceof Error) throw answer;
      return new Response(answer.body, {
        status: answer.status ?? 200,
        headers: answer.headers ?? {},
      });
    }),
  );
  return calls;
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe("a command over Upstash REST", () => {
  it("POSTs the command as a JSON array with the bearer token and answers its result", async () => {
    const calls = stubFetch({ body: '{"result":"{\\"ok\\":true}"}' });
    const answer = await restCommand(rest(), ["EVALSHA", "abc", "1", "k", '{"a":1}']);
    expect(answer).toBe('{"ok":true}');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe("https://redis.example");
    expect(calls[0]!.init.method).toBe("POST");
    expect(calls[0]!.init.body).toBe('["EVALSHA","abc","1","k","{\\"a\\":1}"]');
    const headers = calls[0]!.init.headers as Record<string, string>;
    expect(headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(calls[0]!.init.signal).toBeInstanceOf(AbortSignal);
  });

  it("answers null and other results as they are (no deserialization)", async () => {
    stubFetch({ body: '{"result":null}' }, { body: '{"result":[1,"2",null]}' });
    expect(await restCommand(rest(), ["GET", "k"])).toBeNull();
    expect(await restCommand(rest(), ["EVAL", "return x", "0"])).toEqual([1, "2", null]);
  });

  it("throws Redis's own error (NOSCRIPT stays recognizable for the EVAL fallback)", async () => {
    stubFetch({ status: 400, body: '{"error":"NOSCRIPT No matching script. Use EVAL."}' });
    const error = await restCommand(rest(), ["EVALSHA", "abc", "0"]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisCommandError);
    expect((error as Error).message).toBe("NOSCRIPT No matching script. Use EVAL.");
  });

  it("refuses an answer that is not JSON, or has no result, naming the status only", async () => {
    stubFetch(
      { status: 502, body: "<html>bad gateway</html>" },
      { status: 200, body: '{"nothing":1}' },
      { status: 503, body: "{}" },
    );
    await expect(restCommand(rest(), ["GET", "k"])).rejects.toThrow(
      "Redis REST answered HTTP 502 with a body that is not JSON",
    );
    await expect(restCommand(rest(), ["GET", "k"])).rejects.toThrow(
      "Redis REST answered no result",
    );
    await expect(restCommand(rest(), ["GET", "k"])).rejects.toThrow("Redis REST answered HTTP 503");
  });

  it("never puts the token in an error", async () => {
    stubFetch({ status: 401, body: '{"error":"Unauthorized"}' });
    const error = (await restCommand(rest(), ["GET", "k"]).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe("Unauthorized");
    expect(error.message).not.toContain(TOKEN);
  });

  it("retries once after a network error, and gives up after the second", async () => {
    const calls = stubFetch(new TypeError("connection reset"), { body: '{"result":"OK"}' });
    expect(await restCommand(rest(), ["SET", "k", "v"])).toBe("OK");
    expect(calls).toHaveLength(2);

    const failing = stubFetch(new TypeError("connection reset"), new TypeError("refused"));
    await expect(restCommand(rest(), ["SET", "k", "v"])).rejects.toThrow("refused");
    expect(failing).toHaveLength(2);
  });

  it("does not retry a request its timeout aborted", async () => {
    vi.spyOn(AbortSignal, "timeout").mockReturnValue(AbortSignal.abort());
    const calls = stubFetch(new DOMException("aborted", "AbortError"), { body: '{"result":1}' });
    await expect(restCommand(rest(), ["GET", "k"])).rejects.toThrow("aborted");
    expect(calls).toHaveLength(1);
  });

  it("sends back the read-your-writes token the database last answered", async () => {
    const calls = stubFetch(
      { body: '{"result":"OK"}', headers: { "upstash-sync-token": "sync-1" } },
      { body: '{"result":"v"}' },
    );
    const target = rest();
    await restCommand(target, ["SET", "k", "v"]);
    await restCommand(target, ["GET", "k"]);
    const sent = calls.map((c) => (c.init.headers as Record<string, string>)["upstash-sync-token"]);
    expect(sent).toEqual(["", "sync-1"]);
    expect(target.syncToken).toBe("sync-1");
  });

  it("carries the governor's script commands, sharing the token with the SDK's own commands", async () => {
    const calls = stubFetch(
      { body: '{"result":"{}"}', headers: { "upstash-sync-token": "from-script" } },
      { body: '{"result":"v"}', headers: { "upstash-sync-token": "from-get" } },
      { body: '{"result":1}' },
    );
    const redis = createRedis({ url: "https://redis.example", token: TOKEN });
    expect(await redis.evalsha("abc", ["k1", "k2"], ["ctx"])).toBe("{}");
    expect(await redis.get("k")).toBe("v");
    await redis.evalRo("return 1", [], []);
    expect(calls[0]!.init.body).toBe('["EVALSHA","abc","2","k1","k2","ctx"]');
    expect(calls[2]!.init.body).toBe('["EVAL_RO","return 1","0"]');
    const sent = calls.map((c) => (c.init.headers as Record<string, string>)["upstash-sync-token"]);
    expect(sent).toEqual(["", "from-script", "from-get"]);
  });
});
