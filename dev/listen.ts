import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/** Listen on `host:port` (0: a free port) and return the port and base URL. */
export async function listen(
  server: Server,
  port: number | undefined,
  host: string,
): Promise<{ port: number; url: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return { port: bound, url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}` };
}
