/**
 * The published /openapi.json against what the server accepts and answers (generated clients are
 * built from it): an images edit's source image, JSON-only bodies, the margins report's CSV, the
 * chat and deferred answers (202 while pending), an error envelope on every operation, health
 * checks without credentials, and the error statuses of the customer API routes each declared
 * (the stored responses', the deferred result's, the metered routes'), not only as a `default`.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { startGateway, type Gateway } from "./support/gateway";
type Spec = { paths: Record<string, Record<string, any>>; security?: unknown };

setDefaultTimeout(60_000);
let gw: Gateway;
let spec: Spec;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
  spec = (await (await fetch(`${gw.url}/openapi.json`)).json()) as Spec;
});
afterAll(async () => {
  await gw?.stop();
});
const bodySchema = (path: string, method = "post", type = "application/json") => spec.paths[path]![method]!.requestBody.content[type].schema;
const post = (key: string, path: string, body: unknown) =>
  fetch(gw.url + path, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });

test("POST /v1/images/edits: the spec requires the source image the server requires", async () => {
  expect(bodySchema("/v1/images/edits").required).toEqual(expect.arrayContaining(["model", "prompt", "image"]));
  const c = await gw.customer(10_000_000);
  const res = await post(c.key, "/v1/images/edits", { model: "grok-imagine-image", prompt: "a red fox" });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: { param: string } }).error.param).toBe("image");
});

test("request bodies are JSON only, as the server reads them (a form's fields would all be strings)", async () => {
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const types = Object.keys(op.requestBody?.content ?? {});
      if (types.includes("application/json")) expect({ at: `${method} ${path}`, types }).toEqual({ at: `${method} ${path}`, types: ["application/json"] });
    }
  }
  const c = await gw.customer(0);
  const res = await fetch(`${gw.url}/admin/accounts/${c.accountId}/credits`, {
    method: "POST",
    headers: { authorization: `Bearer ${gw.adminToken}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ amount_micros: "1000" }),
  });
  expect(res.status).toBe(400);
});

test("GET /admin/margins?format=csv: the answer's content type is in the spec", async () => {
  const res = await fetch(`${gw.url}/admin/margins?format=csv`, { headers: { authorization: `Bearer ${gw.adminToken}` } });
  expect(res.status).toBe(200);
  const type = (res.headers.get("content-type") ?? "").split(";")[0]!;
  await res.text();
  expect({ type, documented: Object.keys(spec.paths["/admin/margins"]!.get.responses["200"].content) }).toEqual({ type, documented: expect.arrayContaining([type]) });
});

test("POST /v1/chat/completions with deferred: true: the {request_id} answer is in the spec", async () => {
  const c = await gw.customer(10_000_000);
  const res = await post(c.key, "/v1/chat/completions", { model: "grok-4", deferred: true, max_tokens: 10, messages: [{ role: "user", content: "hi" }], mock: { deferred_ms: 10 } });
  const body = (await res.json()) as { request_id?: string };
  expect(res.status).toBe(200);
  expect(typeof body.request_id).toBe("string");
  const op = spec.paths["/v1/chat/completions"]!.post;
  expect(op.responses?.["200"]?.content?.["application/json"]?.schema ?? null).not.toBeNull();
});

test("GET /v1/chat/deferred-completion/{id}: the 202 the server answers while pending is in the spec", async () => {
  const c = await gw.customer(10_000_000);
  const d = await post(c.key, "/v1/chat/completions", { model: "grok-4", deferred: true, max_tokens: 10, messages: [{ role: "user", content: "hi" }], mock: { deferred_ms: 5000 } });
  const { request_id } = (await d.json()) as { request_id: string };
  const res = await fetch(`${gw.url}/v1/chat/deferred-completion/${request_id}`, { headers: { authorization: `Bearer ${c.key}` } });
  await res.text();
  expect({ status: res.status, declared: Object.keys(spec.paths["/v1/chat/deferred-completion/{id}"]!.get.responses) }).toEqual({ status: 202, declared: expect.arrayContaining(["202"]) });
});

test("error answers are declared: 404 for an unknown account, 400 for a bad body", async () => {
  const got: string[] = [];
  const r1 = await fetch(`${gw.url}/admin/accounts/acc_nope`, { headers: { authorization: `Bearer ${gw.adminToken}` } });
  got.push(`GET /admin/accounts/{id} ${r1.status} declared=${Object.keys(spec.paths["/admin/accounts/{id}"]!.get.responses)}`);
  const r2 = await gw.admin("/admin/accounts", { body: { name: "x", plan: "nope" } });
  got.push(`POST /admin/accounts ${r2.status} declared=${Object.keys(spec.paths["/admin/accounts"]!.post.responses)}`);
  const bad = [[r1.status, spec.paths["/admin/accounts/{id}"]!.get.responses], [r2.status, spec.paths["/admin/accounts"]!.post.responses]]
    .filter(([s, rs]) => !(String(s) in (rs as object)) && !("default" in (rs as object)));
  expect({ got, undeclared: bad.length }).toEqual({ got, undeclared: 0 });
  // Anthropic's envelope on the Messages route, the OpenAI one elsewhere.
  const envelope = (path: string) => spec.paths[path]!.post.responses.default.content["application/json"].schema.required;
  expect({ messages: envelope("/v1/messages"), chat: envelope("/v1/chat/completions") }).toEqual({ messages: ["type", "error"], chat: ["error"] });
});

test("GET /healthz and /readyz: no credentials needed, as the spec should say", async () => {
  const res = await fetch(`${gw.url}/healthz`);
  expect(res.status).toBe(200);
  const sec = (p: string) => spec.paths[p]!.get.security ?? spec.security;
  expect({ healthz: sec("/healthz"), readyz: sec("/readyz") }).toEqual({ healthz: [], readyz: [] });
});

test("GET /v1/responses/{id} and its input_items: the query parameters passed on (paging) are in the spec, the path's id too", async () => {
  const c = await gw.customer(10_000_000);
  const r = await post(c.key, "/v1/responses", { model: "grok-4", input: [{ role: "user", content: "a" }, { role: "user", content: "b" }], mock: { prompt_tokens: 5, completion_tokens: 3 } });
  const { id } = (await r.json()) as { id: string };
  const page = (await (await fetch(`${gw.url}/v1/responses/${id}/input_items?limit=1`, { headers: { authorization: `Bearer ${c.key}` } })).json()) as { data: unknown[]; has_more: boolean };
  expect({ n: page.data.length, has_more: page.has_more }).toEqual({ n: 1, has_more: true });
  const names = (path: string, where: string) => (spec.paths[path]!.get.parameters ?? []).filter((p: { in: string }) => p.in === where).map((p: { name: string }) => p.name);
  expect(names("/v1/responses/{id}/input_items", "query")).toEqual(["after", "before", "limit", "order", "include"]);
  expect(names("/v1/responses/{id}", "query")).toEqual(["include"]);
  expect({ items: names("/v1/responses/{id}/input_items", "path"), one: names("/v1/responses/{id}", "path") }).toEqual({ items: ["id"], one: ["id"] });
});

/** The statuses an operation declares one by one (the `default` every operation has aside). */
const statuses = (path: string, method: string) => Object.keys(spec.paths[path]![method]!.responses ?? {}).filter((k) => k !== "default");
const UPSTREAM = ["502", "503", "504"];

test("the customer API routes declare the error statuses their handlers answer, each in the route's envelope", () => {
  const expected: [string, string, string[]][] = [
    ["/v1/responses/{id}", "get", ["400", "401", "404", "429", "431", ...UPSTREAM]],
    ["/v1/responses/{id}", "delete", ["400", "401", "404", "429", "431", ...UPSTREAM]],
    ["/v1/responses/{id}/input_items", "get", ["400", "401", "404", "429", "431", ...UPSTREAM]],
    ["/v1/chat/deferred-completion/{id}", "get", ["202", "400", "401", "404", "429", "431", ...UPSTREAM]],
    ["/v1/chat/completions", "post", ["400", "401", "402", "404", "408", "413", "429", "431", ...UPSTREAM]],
    ["/v1/responses", "post", ["400", "401", "402", "404", "408", "413", "429", "431", ...UPSTREAM]],
    // Anthropic's API: an unavailable or overloaded upstream is its 529 (what its SDKs retry).
    ["/v1/messages", "post", ["400", "401", "402", "404", "408", "413", "429", "431", "502", "504", "529"]],
    // Free: never refused for credit.
    ["/v1/tokenize-text", "post", ["400", "401", "404", "408", "413", "429", "431", ...UPSTREAM]],
  ];
  const missing = expected.map(([path, method, want]) => ({ at: `${method} ${path}`, missing: want.filter((st) => !statuses(path, method).includes(st)) }));
  expect(missing.filter((m) => m.missing.length > 0)).toEqual([]);
  expect(statuses("/v1/messages", "post")).not.toContain("503");
  expect(statuses("/v1/tokenize-text", "post")).not.toContain("402");
  // Each error in the envelope of its API, with a description.
  for (const [path, method, want] of expected) {
    for (const st of want.filter((x) => Number(x) >= 400)) {
      const r = spec.paths[path]![method]!.responses[st];
      expect({ at: `${method} ${path} ${st}`, described: typeof r.description === "string" && r.description.length > 0 }).toEqual({ at: `${method} ${path} ${st}`, described: true });
      expect(r.content["application/json"].schema.required).toEqual(path === "/v1/messages" ? ["type", "error"] : ["error"]);
    }
  }
});

test("the errors the stored-response and deferred routes really answer are declared by their status", async () => {
  const c = await gw.customer(10_000_000);
  const r = await post(c.key, "/v1/responses", { model: "grok-4", input: "hi", mock: { prompt_tokens: 5, completion_tokens: 3 } });
  const { id } = (await r.json()) as { id: string };
  const call = async (method: string, path: string, key: string | null) => {
    const res = await fetch(gw.url + path, { method, headers: key ? { authorization: `Bearer ${key}` } : {} });
    await res.text();
    return res.status;
  };
  const seen: [string, string, number][] = [
    ["/v1/responses/{id}", "get", await call("GET", `/v1/responses/${id}`, null)],
    ["/v1/responses/{id}", "get", await call("GET", `/v1/responses/${id}?stream=true`, c.key)],
    ["/v1/responses/{id}", "get", await call("GET", "/v1/responses/resp_nope", c.key)],
    ["/v1/responses/{id}/input_items", "get", await call("GET", "/v1/responses/resp_nope/input_items", c.key)],
    ["/v1/responses/{id}", "delete", await call("DELETE", `/v1/responses/${"x".repeat(201)}`, c.key)],
    ["/v1/responses/{id}", "delete", await call("DELETE", `/v1/responses/${id}`, null)],
    ["/v1/chat/deferred-completion/{id}", "get", await call("GET", "/v1/chat/deferred-completion/nope", c.key)],
    ["/v1/chat/deferred-completion/{id}", "get", await call("GET", "/v1/chat/deferred-completion/nope", null)],
  ];
  // Headers above 32 KiB, on any route.
  const big = await fetch(`${gw.url}/v1/responses/${id}`, { headers: { authorization: `Bearer ${c.key}`, "x-padding": "p".repeat(40_000) } });
  await big.text();
  seen.push(["/v1/responses/{id}", "get", big.status]);
  // The upstream failing (500), then unavailable (503): its failures as the gateway translates them.
  for (const status of [500, 503]) {
    gw.upstream.setDefaults({ status });
    try {
      seen.push(["/v1/responses/{id}", "get", await call("GET", `/v1/responses/${id}`, c.key)]);
      seen.push(["/v1/responses/{id}/input_items", "get", await call("GET", `/v1/responses/${id}/input_items`, c.key)]);
    } finally {
      gw.upstream.setDefaults({});
    }
  }
  expect(seen.map(([, , st]) => st)).toEqual([401, 400, 404, 404, 400, 401, 404, 401, 431, 502, 502, 503, 503]);
  const undeclared = seen.filter(([path, method, st]) => !statuses(path, method).includes(String(st)));
  expect(undeclared).toEqual([]);
});
