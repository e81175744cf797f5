import { METERED_APIS } from "../src/gateway/apis";
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createApp } from "../src/runtime/app";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(30_000);

let s: Gateway;
let spec: { openapi: string; paths: Record<string, Record<string, any>>; components?: any };
beforeAll(async () => {
  s = await startGateway();
  const res = await fetch(`${s.url}/openapi.json`);
  expect(res.status).toBe(200);
  spec = (await res.json()) as typeof spec;
});
afterAll(async () => {
  await s.stop();
});

/** The app's own routes (the docs UI and its assets are hidden on purpose). */
function documentedRoutes() {
  const app = createApp(s.runtime.deps);
  return app.routes
    .filter((r) => !(r.hooks as { detail?: { hide?: boolean } } | undefined)?.detail?.hide)
    .map((r) => ({ method: r.method.toLowerCase(), path: r.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}"), hooks: r.hooks as Record<string, any> }));
}

test("every route registered in the app is in /openapi.json with a summary and a tag", () => {
  const routes = documentedRoutes();
  // The foundation's routes at least (guards against an empty route list).
  for (const path of ["/healthz", "/readyz", "/admin/accounts", "/admin/accounts/{id}/credits", "/admin/keys/{id}/rotate", "/admin/audit", "/v1/me"]) {
    expect(routes.some((r) => r.path === path)).toBe(true);
  }
  const missing: string[] = [];
  for (const r of routes) {
    const op = spec.paths[r.path]?.[r.method];
    if (!op) missing.push(`${r.method.toUpperCase()} ${r.path}: not in the spec`);
    else if (typeof op.summary !== "string" || op.summary.trim() === "") missing.push(`${r.method.toUpperCase()} ${r.path}: no summary`);
    else if (!Array.isArray(op.tags) || op.tags.length === 0) missing.push(`${r.method.toUpperCase()} ${r.path}: no tag`);
  }
  expect(missing).toEqual([]);
  // And nothing in the spec that the app does not serve.
  const served = new Set(routes.map((r) => `${r.method} ${r.path}`));
  const extra = Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops).filter((m) => !served.has(`${m} ${p}`)).map((m) => `${m} ${p}`));
  expect(extra).toEqual([]);
});

test("routes declare schemas: path params, query, body and a JSON response", () => {
  const problems: string[] = [];
  for (const r of documentedRoutes()) {
    const op = spec.paths[r.path]?.[r.method];
    if (!op) continue;
    const where = `${r.method.toUpperCase()} ${r.path}`;
    const params: { in: string; name: string; schema?: unknown }[] = op.parameters ?? [];
    for (const name of [...r.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!)) {
      if (!params.some((p) => p.in === "path" && p.name === name && p.schema)) problems.push(`${where}: path parameter ${name} undocumented`);
    }
    if (r.hooks.query && !params.some((p) => p.in === "query")) problems.push(`${where}: query schema missing from the spec`);
    if (r.hooks.body && !op.requestBody?.content) problems.push(`${where}: body schema missing from the spec`);
    // The metered APIs validate their bodies themselves (gateway/route.ts, ahead of Elysia) and document them by hand.
    const meteredBody = METERED_APIS.some((a) => a.path === r.path) && op.requestBody?.content?.["application/json"]?.schema?.required?.includes("model");
    if (["post", "put", "patch"].includes(r.method) && !r.hooks.body && !meteredBody) problems.push(`${where}: accepts a body without a schema`);
    // Chat completions answers JSON or an SSE stream depending on the request.
    if (r.path === "/v1/chat/completions") continue;
    // Prometheus scrapes text, not JSON.
    if (r.path === "/metrics") {
      if (!op.responses?.["200"]?.content?.["text/plain"]?.schema) problems.push(`${where}: no text/plain response`);
      continue;
    }
    const ok = Object.entries<any>(op.responses ?? {}).filter(([code, resp]) => /^2/.test(code) && resp?.content?.["application/json"]?.schema);
    if (ok.length === 0) problems.push(`${where}: no JSON response schema`);
  }
  expect(problems).toEqual([]);
});

test("the foundation's schemas carry the details clients rely on", () => {
  const credits = spec.paths["/admin/accounts/{id}/credits"]!.post;
  const body = credits.requestBody.content["application/json"].schema;
  expect(body.required).toContain("amount_micros");
  expect(body.properties.amount_micros.type).toBe("integer");
  expect(credits.parameters.some((p: { in: string; name: string }) => p.in === "header" && p.name === "idempotency-key")).toBe(true);
  expect(credits.responses["201"]).toBeDefined();
  const rotate = spec.paths["/admin/keys/{id}/rotate"]!.post;
  expect(rotate.responses["201"].content["application/json"].schema.properties.key.type).toBe("string");
  const keyList = spec.paths["/admin/accounts/{id}/keys"]!.get.responses["200"].content["application/json"].schema;
  expect(JSON.stringify(keyList)).not.toContain('"hash"');
  const me = spec.paths["/v1/me"]!.get.responses["200"].content["application/json"].schema;
  for (const field of ["account_id", "balance_micros", "held_micros", "available_micros", "balance_usd", "held_usd", "available_usd", "plan", "key"]) {
    expect(me.properties[field]).toBeDefined();
  }
  expect(spec.components?.securitySchemes?.bearer).toEqual({ type: "http", scheme: "bearer" });
});

test("/swagger, where an operator may paste the admin token, is never framed nor sniffed", async () => {
  const res = await fetch(`${s.url}/swagger`);
  expect(res.headers.get("content-type")).toContain("text/html");
  expect({
    frame: res.headers.get("x-frame-options"),
    csp: res.headers.get("content-security-policy"),
    nosniff: res.headers.get("x-content-type-options"),
    referrer: res.headers.get("referrer-policy"),
  }).toEqual({ frame: "DENY", csp: "frame-ancestors 'none'", nosniff: "nosniff", referrer: "same-origin" });
});

test("/swagger is served with local assets only: nothing from a CDN", async () => {
  const res = await fetch(`${s.url}/swagger`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/html");
  const html = await res.text();
  const urls = [...html.matchAll(/<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  expect(urls.length).toBeGreaterThanOrEqual(2);
  expect(html).not.toMatch(/unpkg|jsdelivr|cdnjs|googleapis|https?:\/\//);
  for (const url of urls) {
    expect(url).toStartWith("/");
    const asset = await fetch(new URL(url, `${s.url}/swagger`));
    expect(asset.status).toBe(200);
    const type = asset.headers.get("content-type") ?? "";
    expect(type).toMatch(url.endsWith(".css") ? /^text\/css/ : /javascript/);
    expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
  }
  // The spec URL the page loads resolves to the served spec.
  const specUrl = /"url":"([^"]+)"/.exec(html)?.[1];
  expect(specUrl).toBeDefined();
  expect((await fetch(new URL(specUrl!, `${s.url}/swagger`))).status).toBe(200);
});
