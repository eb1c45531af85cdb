/**
 * `GET /docs`: the OpenAPI document as a self-contained HTML page (no script,
 * no CDN): one block per route, then one table per component schema.
 */
import { esc } from "../dashboard/render.ts";

type Json = Record<string, unknown>;

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

/** Escaped text with `backticks` shown as code, as the descriptions are written. */
function prose(text: unknown): string {
  return esc(text).replace(/`([^`]+)`/g, "<code>$1</code>");
}

function asObject(value: unknown): Json {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Json)
    : {};
}

/** A JSON schema in one line: `Plan`, `string /^[A-Z0-9]{2,20}$/`, `array of Lock`, `number | null`. */
export function schemaSummary(schema: unknown): string {
  const s = asObject(schema);
  if (typeof s.$ref === "string") {
    const name = s.$ref.split("/").pop() ?? s.$ref;
    return `<a href="#schema-${esc(name)}">${esc(name)}</a>`;
  }
  for (const key of ["anyOf", "oneOf", "allOf"] as const) {
    if (Array.isArray(s[key]))
      return (s[key] as unknown[]).map(schemaSummary).join(key === "allOf" ? " & " : " | ");
  }
  if (Array.isArray(s.enum))
    return s.enum.map((v) => `<code>${esc(JSON.stringify(v))}</code>`).join(" | ");
  if (s.const !== undefined) return `<code>${esc(JSON.stringify(s.const))}</code>`;
  const types = Array.isArray(s.type)
    ? (s.type as string[])
    : typeof s.type === "string"
      ? [s.type]
      : [];
  const parts = types.map((type) => {
    if (type === "array") return `array of ${schemaSummary(s.items)}`;
    if (type === "object" && s.properties === undefined && s.additionalProperties !== undefined) {
      return `map of ${s.additionalProperties === true ? "any" : schemaSummary(s.additionalProperties)}`;
    }
    return esc(type);
  });
  const summary = parts.join(" | ") || (Object.keys(s).length === 0 ? "any" : "object");
  const pattern = typeof s.pattern === "string" ? ` <code>/${esc(s.pattern)}/</code>` : "";
  return summary + pattern;
}

/** The object inside a schema: itself, an array's items, or the object member of `X | null`. */
function objectWithin(schema: Json): Json | null {
  if (schema.properties !== undefined) return schema;
  if (schema.type === "array" || (Array.isArray(schema.type) && schema.type.includes("array"))) {
    return objectWithin(asObject(schema.items));
  }
  for (const key of ["anyOf", "oneOf"] as const) {
    if (!Array.isArray(schema[key])) continue;
    const objects = (schema[key] as unknown[]).map((s) => objectWithin(asObject(s)));
    const found = objects.filter((o) => o !== null);
    if (found.length === 1) return found[0]!;
  }
  return null;
}

function isArray(schema: Json): boolean {
  const types = Array.isArray(schema.type) ? (schema.type as unknown[]) : [schema.type];
  if (types.includes("array")) return true;
  return (["anyOf", "oneOf"] as const).some(
    (key) =>
      Array.isArray(schema[key]) && (schema[key] as unknown[]).some((m) => isArray(asObject(m))),
  );
}

/** One row per field, nested fields under dotted paths (`locks[].timeout_in_s`). */
function fieldRows(schema: Json, prefix: string, depth: number): string {
  const properties = asObject(schema.properties);
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  return Object.entries(properties)
    .map(([name, property]) => {
      const p = asObject(property);
      const path = `${prefix}${name}`;
      const nested = depth < 3 ? objectWithin(p) : null;
      return (
        `<tr><td><code>${esc(path)}</code>${required.has(name) ? "" : ' <span class="muted">optional</span>'}</td>` +
        `<td>${schemaSummary(p)}</td><td>${prose(p.description ?? "")}</td></tr>` +
        (nested ? fieldRows(nested, `${path}${isArray(p) ? "[]" : ""}.`, depth + 1) : "")
      );
    })
    .join("");
}

function propertiesTable(schema: Json): string {
  const rows = fieldRows(schema, "", 0);
  if (!rows) return `<p>${schemaSummary(schema)}</p>`;
  return `<table><thead><tr><th>Field</th><th>Type</th><th>Notes</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function renderOperation(path: string, method: string, op: Json): string {
  const security = Array.isArray(op.security)
    ? (op.security as Json[])
        .map((alternative) => Object.keys(alternative).join(" + "))
        .join(" or ")
    : "none";
  const parameters = Array.isArray(op.parameters)
    ? (op.parameters as Json[])
        .map(
          (p) =>
            `<li><code>${esc(p.name)}</code> (${esc(p.in)}${p.required ? ", required" : ""}): ` +
            `${schemaSummary(p.schema)} ${prose(p.description ?? "")}</li>`,
        )
        .join("")
    : "";
  const body = asObject(op.requestBody);
  const bodyContent = Object.entries(asObject(body.content))
    .map(([type, media]) => `<code>${esc(type)}</code> ${schemaSummary(asObject(media).schema)}`)
    .join(", ");
  const responses = Object.entries(asObject(op.responses))
    .map(([code, response]) => {
      const r = asObject(response);
      const content = Object.entries(asObject(r.content))
        .map(
          ([type, media]) => `<code>${esc(type)}</code> ${schemaSummary(asObject(media).schema)}`,
        )
        .join(", ");
      return `<tr><td class="n">${esc(code)}</td><td>${prose(r.description ?? "")}</td><td>${content}</td></tr>`;
    })
    .join("");
  return (
    `<section class="op" id="${esc(`${method}-${path}`)}"><h3><span class="method ${esc(method)}">${esc(method.toUpperCase())}</span> ` +
    `<code>${esc(path)}</code> <span class="summary">${esc(op.summary ?? "")}</span></h3>` +
    (op.description ? `<p>${prose(op.description)}</p>` : "") +
    `<p class="muted">Auth: ${esc(security)}</p>` +
    (parameters ? `<h4>Parameters</h4><ul>${parameters}</ul>` : "") +
    (bodyContent ? `<h4>Request body</h4><p>${bodyContent}</p>` : "") +
    `<h4>Responses</h4><table><thead><tr><th>Status</th><th>Meaning</th><th>Body</th></tr></thead>` +
    `<tbody>${responses}</tbody></table></section>`
  );
}

const DOCS_CSS = `
body { margin: 0; font: 14px/1.45 system-ui, "DejaVu Sans", sans-serif; color: #15202b; background: #eef1f5; }
header { background: #0f1b2a; color: #fff; padding: 12px 24px; }
header h1 { margin: 0; font-size: 18px; } header a { color: #b9cdf0; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 40px; }
nav ul { columns: 2; } code { font: 13px "DejaVu Sans Mono", ui-monospace, monospace; }
section.op, section.schema { background: #fff; border: 1px solid #d9dfe6; border-radius: 8px; padding: 10px 16px; margin: 12px 0; }
h3 { margin: 4px 0; font-size: 16px; } h4 { margin: 10px 0 4px; font-size: 13px; color: #5b6876; }
.method { display: inline-block; min-width: 52px; text-align: center; font: 700 12px monospace; color: #fff; border-radius: 4px; padding: 2px 6px; background: #1d5fbf; }
.method.post { background: #18794e; } .summary { font-weight: 400; color: #5b6876; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #edf0f4; vertical-align: top; }
th { color: #5b6876; font-size: 12px; } .muted { color: #5b6876; } .n { font-family: monospace; }
details pre { overflow: auto; background: #f6f8fa; padding: 8px; font-size: 12px; }
`;

/** The docs page of an OpenAPI document. */
export function renderDocsPage(document: object): string {
  const doc = asObject(document);
  const info = asObject(doc.info);
  const components = asObject(doc.components);
  const operations: string[] = [];
  const index: string[] = [];
  for (const [path, item] of Object.entries(asObject(doc.paths))) {
    for (const method of METHODS) {
      const op = asObject(asObject(item)[method]);
      if (Object.keys(op).length === 0) continue;
      operations.push(renderOperation(path, method, op));
      index.push(
        `<li><a href="#${esc(`${method}-${path}`)}"><code>${esc(method.toUpperCase())} ${esc(path)}</code></a> ${esc(op.summary ?? "")}</li>`,
      );
    }
  }
  const schemas = Object.entries(asObject(components.schemas))
    .map(
      ([name, schema]) =>
        `<section class="schema" id="schema-${esc(name)}"><h3>${esc(name)}</h3>` +
        (asObject(schema).description ? `<p>${prose(asObject(schema).description)}</p>` : "") +
        propertiesTable(asObject(schema)) +
        `<details><summary>JSON schema</summary><pre>${esc(JSON.stringify(schema, null, 2))}</pre></details></section>`,
    )
    .join("");
  const security = Object.entries(asObject(components.securitySchemes))
    .map(
      ([name, scheme]) =>
        `<li><code>${esc(name)}</code>: ${prose(asObject(scheme).description ?? asObject(scheme).type)}</li>`,
    )
    .join("");
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title ?? "API")} · API docs</title><style>${DOCS_CSS}</style></head>
<body>
<header><h1>${esc(info.title ?? "API")} <small>${esc(info.version ?? "")}</small></h1>
<a href="/openapi.json">openapi.json</a></header>
<main>
<p>${prose(info.description ?? "")}</p>
<h2>Routes</h2><nav><ul>${index.join("")}</ul></nav>
<h2>Authentication</h2><ul>${security}</ul>
${operations.join("\n")}
<h2>Schemas</h2>
${schemas}
</main>
</body>
</html>`;
}
