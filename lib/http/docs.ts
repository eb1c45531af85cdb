/**
 * The API's documentation: /openapi.json, generated from the route definitions
 * of the whole app, and /docs, the page that renders it; with the schemas and
 * security schemes the routes refer to.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { renderDocsPage } from "./docs-page.ts";
import { createApp, type AppEnv } from "./middleware.ts";
import { SECURITY, SIGNATURE_HEADER, TIMESTAMP_HEADER, docsRoute, openApiRoute } from "./routes.ts";
import { ErrorSchema, PlanBodySchema, TradingStateChangeBodySchema } from "./schemas.ts";

/** The docs routes for `app` (whose document they serve, once it has composed every sub-app). */
export function docsFor(app: OpenAPIHono<AppEnv>) {
  let openApiDocument: ReturnType<typeof app.getOpenAPI31Document> | undefined;

  /** The OpenAPI document, generated once per isolate from the route definitions. */
  const openApi = () =>
    (openApiDocument ??= app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "Governor · Active Slots Controller",
        version: "1",
        description:
          "Pre-trade gate for USD-M futures: a regime-dependent cap on open positions and a " +
          "strict two-phase rotation when slots are full. Errors are always " +
          "`{ error: { code, message, issues? } }`, each route listing its codes; an unknown " +
          "route answers 404 `not_found`.",
      },
      tags: [
        { name: "plans", description: "The Apply Layer's webhook and plan records." },
        {
          name: "operators",
          description: "Status, dashboard, health, and the trading state (the kill switch).",
        },
        { name: "docs", description: "This documentation." },
      ],
    }));

  const docs = createApp();
  docs.openapi(openApiRoute, (c) => c.json(openApi(), 200));
  docs.openapi(docsRoute, (c) =>
    c.body(renderDocsPage(openApi()), 200, {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    }),
  );

  const registry = docs.openAPIRegistry;
  // The webhook's body is documented by reference (see routes.ts): register what it refers to.
  registry.register("Plan", PlanBodySchema);
  // Every error code in one schema (the routes narrow it to the codes they answer with).
  registry.register("Error", ErrorSchema);
  registry.register("TradingStateChange", TradingStateChangeBodySchema);
  registry.registerComponent("securitySchemes", SECURITY.adminToken, {
    type: "http",
    scheme: "bearer",
    description:
      "The admin token (GOV_ADMIN_TOKEN) as `Authorization: Bearer <token>`; no admin token " +
      "configured: admin routes answer 503.",
  });
  registry.registerComponent("securitySchemes", SECURITY.readToken, {
    type: "http",
    scheme: "bearer",
    description: "The read token (GOV_READ_TOKEN) as `Authorization: Bearer <token>`.",
  });
  registry.registerComponent("securitySchemes", SECURITY.readTokenQuery, {
    type: "apiKey",
    in: "query",
    name: "token",
    description: "The read token as `?token=` (the dashboard, from a browser).",
  });
  registry.registerComponent("securitySchemes", SECURITY.webhookTimestamp, {
    type: "apiKey",
    in: "header",
    name: "X-Governor-Timestamp",
    description: TIMESTAMP_HEADER,
  });
  registry.registerComponent("securitySchemes", SECURITY.webhookSignature, {
    type: "apiKey",
    in: "header",
    name: "X-Governor-Signature",
    description: SIGNATURE_HEADER,
  });
  return docs;
}
