/**
 * The one Node API the Worker uses (nodejs_compat, wrangler.toml): a
 * synchronous HMAC for the webhook check (lib/http/auth.ts). Declared here
 * rather than by including Node's types in the Worker's typecheck, which would
 * let any other Node API in unnoticed.
 */
declare module "node:crypto" {
  interface Hmac {
    update(data: string | Uint8Array): Hmac;
    digest(encoding: "hex"): string;
  }
  export function createHmac(algorithm: "sha256", key: string): Hmac;
}
