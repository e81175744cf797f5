/**
 * /openapi.json describes requests as clients send them: a query parameter or body field the route
 * defaults is not required, and neither is a body the route takes as optional; what the route
 * does require still is, and the types keep their bounds (`limit`: an integer from 1 to 1000).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(120_000);
type Schema = { properties?: Record<string, Schema>; required?: string[]; default?: unknown; items?: Schema; type?: unknown; minimum?: number; maximum?: number };
type Op = { parameters?: { in: string; name: string; required?: boolean; schema?: Schema }[]; requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> } };
let gw: Gateway;
let spec: { paths: Record<string, Record<string, Op>> };
beforeAll(async () => {
  gw = await startGateway();
  spec = (await (await fetch(`${gw.url}/openapi.json`)).json()) as typeof spec;
});
afterAll(async () => {
  await gw?.stop();
});

const requiredQuery = (path: string, method: string) =>
  (spec.paths[path]?.[method]?.parameters ?? []).filter((p) => p.in === "query" && p.required).map((p) => p.name);

/** Every required property that has a default, through nested objects and arrays. */
function defaultedButRequired(s: Schema | undefined, where: string, out: string[]): string[] {
  if (!s) return out;
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    if (v.default !== undefined && s.required?.includes(k)) out.push(`${where}.${k}`);
    defaultedButRequired(v, `${where}.${k}`, out);
  }
  defaultedButRequired(s.items, `${where}[]`, out);
  return out;
}

test("no query parameter or body field with a default is required, on any route", () => {
  const wrong: string[] = [];
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      for (const p of op.parameters ?? []) if (p.in === "query" && p.required && p.schema?.default !== undefined) wrong.push(`${method} ${path} ?${p.name}`);
      defaultedButRequired(op.requestBody?.content["application/json"]?.schema, `${method} ${path} body`, wrong);
    }
  }
  expect(wrong).toEqual([]);
  for (const [path, method] of [["/admin/accounts", "get"], ["/admin/audit", "get"], ["/admin/margins", "get"], ["/admin/accounts/{id}/ledger", "get"], ["/admin/members/{id}", "delete"], ["/admin/codes", "get"]]) {
    expect({ path, required: requiredQuery(path!, method!) }).toEqual({ path, required: [] });
  }
  // The bounds stay: a client still learns what it may send.
  const limit = spec.paths["/admin/accounts"]!.get!.parameters!.find((p) => p.name === "limit")!.schema!;
  expect(limit).toMatchObject({ type: "integer", minimum: 1, default: 100 });
});

test("what the routes do require stays required", () => {
  const credits = spec.paths["/admin/accounts/{id}/credits"]!.post!;
  expect(credits.requestBody!.required).toBe(true);
  expect(credits.requestBody!.content["application/json"]!.schema.required).toContain("amount_micros");
  const codes = spec.paths["/admin/codes"]!.post!.requestBody!.content["application/json"]!.schema;
  expect([...(codes.required ?? [])].sort()).toEqual(["amount_micros", "count"]);
});

test("bodies the routes take as optional are not required", async () => {
  const c = await gw.customer(1_000_000);
  const admin = { authorization: `Bearer ${gw.adminToken}` };
  expect((await fetch(`${gw.url}/admin/keys/${c.keyId}/rotate`, { method: "POST", headers: admin })).status).toBe(201);
  expect((await fetch(`${gw.url}/admin/accounts/${c.accountId}/invite`, { method: "POST", headers: admin })).status).toBe(201);
  const optional = ["/admin/keys/{id}/rotate", "/admin/accounts/{id}/invite", "/admin/members/{id}/invite"];
  expect(optional.map((p) => spec.paths[p]?.post?.requestBody?.required)).toEqual([false, false, false]);
  // Asked again, the spec is the same (rewritten once, not twice).
  expect(await (await fetch(`${gw.url}/openapi.json`)).json()).toEqual(spec);
});
