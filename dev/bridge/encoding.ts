/**
 * Wire encoding for the Upstash REST bridge: request commands in, Redis
 * replies out (see the README (Local stack) "Upstash REST endpoint").
 */

/** A command ready for ioredis: upper-cased name and string arguments. */
export interface RedisCommand {
  name: string;
  args: string[];
}

/** A malformed request (HTTP 400, message sent as `{"error"}`). */
export class BadRequest extends Error {
  override name = "BadRequest";
}

/**
 * Commands the bridge refuses: they would change the state of a shared
 * connection (MULTI, SELECT, CLIENT, SUBSCRIBE ...), block it, or end it.
 */
const REFUSED = new Set([
  "MULTI",
  "EXEC",
  "DISCARD",
  "WATCH",
  "UNWATCH",
  "SELECT",
  "SWAPDB",
  "AUTH",
  "HELLO",
  "RESET",
  "QUIT",
  "CLIENT",
  "MONITOR",
  "SYNC",
  "PSYNC",
  "REPLCONF",
  "SHUTDOWN",
  "SUBSCRIBE",
  "PSUBSCRIBE",
  "SSUBSCRIBE",
  "UNSUBSCRIBE",
  "PUNSUBSCRIBE",
  "SUNSUBSCRIBE",
  "BLPOP",
  "BRPOP",
  "BRPOPLPUSH",
  "BLMOVE",
  "BLMPOP",
  "BZPOPMIN",
  "BZPOPMAX",
  "BZMPOP",
  "WAIT",
  "WAITAOF",
]);

/** Why a command is refused, or null when the bridge will run it. */
export function refusal(command: RedisCommand): string | null {
  const blockingRead =
    (command.name === "XREAD" || command.name === "XREADGROUP") &&
    command.args.some((a) => a.toUpperCase() === "BLOCK");
  if (REFUSED.has(command.name) || blockingRead) {
    return `ERR command '${command.name.toLowerCase()}' is not supported by the REST bridge`;
  }
  return null;
}

/** Validate one JSON command (`["set","k","v"]`, numbers allowed) and convert it. */
export function toCommand(raw: unknown): RedisCommand {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new BadRequest("ERR a command must be a non-empty JSON array");
  }
  const parts = raw.map((part: unknown) => {
    switch (typeof part) {
      case "string":
        return part;
      case "number":
      case "boolean":
        return String(part);
      default:
        throw new BadRequest("ERR command arguments must be strings, numbers or booleans");
    }
  });
  const [name = "", ...args] = parts;
  if (name === "") throw new BadRequest("ERR empty command name");
  return { name: name.toUpperCase(), args };
}

/** Validate a `/pipeline` or `/multi-exec` body: a non-empty array of commands. */
export function toCommandList(raw: unknown): RedisCommand[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new BadRequest("ERR a pipeline must be a non-empty JSON array of commands");
  }
  return raw.map(toCommand);
}

/**
 * Convert a RESP2 reply (ioredis buffer mode) to JSON: bulk and status
 * strings become base64 (`Upstash-Encoding: base64`) or UTF-8 text, integers
 * and nil stay as they are, arrays stay flat arrays at every depth. An error
 * nested inside an array (e.g. from EVAL) becomes its message text.
 */
export function encodeReply(reply: unknown, base64: boolean): unknown {
  if (reply === null || reply === undefined) return null;
  if (typeof reply === "number") return reply;
  if (Buffer.isBuffer(reply)) return base64 ? reply.toString("base64") : reply.toString("utf8");
  if (Array.isArray(reply)) return reply.map((item) => encodeReply(item, base64));
  const text = reply instanceof Error ? reply.message : String(reply);
  return base64 ? Buffer.from(text, "utf8").toString("base64") : text;
}

/** True for an error reply from Redis itself (as opposed to a connection failure). */
export function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === "ReplyError";
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
