// Secrets are set with `wrangler secret put NAME` (never in wrangler.toml), so
// `wrangler types` cannot see them; declared here for the type checker.
declare namespace Cloudflare {
  interface Env {
    UPSTASH_REDIS_REST_URL?: string;
    UPSTASH_REDIS_REST_TOKEN?: string;
    BINANCE_API_KEY?: string;
    BINANCE_API_SECRET?: string;
    GOV_WEBHOOK_SECRET?: string;
    GOV_READ_TOKEN?: string;
    GOV_ADMIN_TOKEN?: string;
    GOV_ALERT_WEBHOOK_URL?: string;
  }
}
