import { Redis } from "ioredis";

/** Connection options shared by the bridge's ioredis connections. */
export function openConnection(redisUrl: string): Redis {
  const connection = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 2,
    enableAutoPipelining: false,
    // Never replay a half-sent transaction on a fresh socket.
    autoResendUnfulfilledCommands: false,
  });
  // ioredis emits connection errors as events; requests see them as rejections.
  connection.on("error", () => {});
  return connection;
}

/**
 * A bounded pool of dedicated connections for `/multi-exec`: each transaction
 * owns a connection from MULTI to EXEC, so concurrent transactions can never
 * interleave. Callers beyond `max` wait for a connection to come back.
 */
export class ConnectionPool {
  private readonly redisUrl: string;
  private readonly max: number;
  private readonly idle: Redis[] = [];
  private readonly waiters: Array<{ resolve: (c: Redis) => void; reject: (e: unknown) => void }> =
    [];
  private open = 0;
  private closed = false;

  constructor(redisUrl: string, max: number) {
    this.redisUrl = redisUrl;
    this.max = max;
  }

  async acquire(): Promise<Redis> {
    if (this.closed) throw new Error("connection pool is closed");
    const idle = this.idle.pop();
    if (idle) return idle;
    if (this.open < this.max) return this.create();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Return a connection; `healthy = false` closes it (its state is unknown). */
  release(connection: Redis, healthy: boolean): void {
    if (!healthy || this.closed) {
      this.open -= 1;
      connection.disconnect();
      const waiter = this.waiters.shift();
      if (waiter && !this.closed) this.create().then(waiter.resolve, waiter.reject);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(connection);
    else this.idle.push(connection);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0))
      waiter.reject(new Error("connection pool is closed"));
    await Promise.all(this.idle.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
  }

  private async create(): Promise<Redis> {
    this.open += 1;
    const connection = openConnection(this.redisUrl);
    try {
      await connection.connect();
      return connection;
    } catch (error) {
      this.open -= 1;
      connection.disconnect();
      throw error;
    }
  }
}
