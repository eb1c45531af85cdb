/**
 * Secrets the worker runs without (`wrangler types` lists only the required
 * ones, `secrets.required` in wrangler.toml): set with `wrangler secret put`.
 */
declare namespace Cloudflare {
  interface Env {
    /** Admin routes (PUT /v1/trading-state); unset, they answer 503. */
    GOV_ADMIN_TOKEN?: string;
    /** Where alerts go; unset, none are sent. */
    GOV_ALERT_WEBHOOK_URL?: string;
    /** The previous webhook secret, accepted during a rotation. */
    GOV_WEBHOOK_SECRET_PREVIOUS?: string;
  }
}
