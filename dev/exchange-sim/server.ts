/**
 * Binance USD-M futures simulator (plain node:http): the exchange routes
 * (./routes.ts, with Binance's error bodies from ./errors.ts) and the control
 * API under /__sim (./control.ts) on one port, over one ExchangeState.
 *
 * The Apply Layer simulator is not part of it: dev/services.ts starts it
 * against this simulator's state.
 * @see https://developers.binance.com/docs/derivatives/usds-margined-futures/general-info
 */
import { createServer } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { listen } from "../listen.ts";
import { controlApi, type HeldRequests } from "./control.ts";
import { ControlError, readBody, weightStampedSend } from "./http.ts";
import { exchangeRoutes } from "./routes.ts";
import { ExchangeState } from "./state.ts";

export interface ExchangeSimOptions {
  port?: number;
  host?: string;
  apiKey: string;
  apiSecret: string;
  now?: () => number;
}

export interface ExchangeSimHandle {
  url: string;
  port: number;
  state: ExchangeState;
  stop(): Promise<void>;
}

/**
 * Requests parked in a fault's delay: POST /__sim/faults/release ends every
 * delay now (the request then goes on); stopping the simulator fails them.
 */
function faultDelays(stopping: AbortSignal): HeldRequests & { hold(ms: number): Promise<void> } {
  let releaser = new AbortController();
  let count = 0;
  return {
    get count() {
      return count;
    },
    async hold(ms) {
      const released = releaser.signal;
      count += 1;
      try {
        await sleep(ms, undefined, { signal: AbortSignal.any([stopping, released]) });
      } catch (e) {
        if (stopping.aborted || !released.aborted) throw e;
      } finally {
        count -= 1;
      }
    },
    release() {
      const released = count;
      releaser.abort();
      releaser = new AbortController();
      return released;
    },
  };
}

export async function startExchangeSim(options: ExchangeSimOptions): Promise<ExchangeSimHandle> {
  const host = options.host ?? "127.0.0.1";
  const state = new ExchangeState(options.now ?? Date.now);
  const aborter = new AbortController();
  const delays = faultDelays(aborter.signal);
  const send = weightStampedSend(() => state.usedWeight());
  const handleExchange = exchangeRoutes({
    state,
    apiKey: options.apiKey,
    apiSecret: options.apiSecret,
    holdFor: delays.hold,
    send,
  });
  const handleControl = controlApi(state, delays);

  const server = createServer((req, res) => {
    void (async () => {
      const rawUrl = req.url ?? "/";
      const q = rawUrl.indexOf("?");
      const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
      const rawQuery = q < 0 ? "" : rawUrl.slice(q + 1);
      try {
        const body = await readBody(req);
        if (path === "/__sim" || path.startsWith("/__sim/")) {
          send(res, 200, handleControl(req.method ?? "GET", path, rawQuery, body));
          return;
        }
        await handleExchange(req, res, path, rawQuery, body);
      } catch (e) {
        if (e instanceof ControlError) {
          const error: Record<string, unknown> = { code: "bad_request", message: e.message };
          if (e.status === 404) error.code = "not_found";
          if (e.status === 405) error.code = "method_not_allowed";
          if (e.status === 413) error.code = "payload_too_large";
          if (e.issues !== undefined) error.issues = e.issues;
          send(res, e.status, { error });
        } else if ((e as Error).name === "AbortError") {
          res.destroy();
        } else {
          send(res, 500, { code: -1000, msg: `simulator error: ${(e as Error).message}` });
        }
      }
    })();
  });

  const { port, url } = await listen(server, options.port, host);

  let stopped: Promise<void> | undefined;
  return {
    url,
    port,
    state,
    stop() {
      stopped ??= (async () => {
        aborter.abort();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return stopped;
    },
  };
}
