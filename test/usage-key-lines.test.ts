/**
 * A usage filter by key covers the key's rotation line: the keys it replaced and those that
 * replaced it, whose spend GET /v1/me shows as the key's (and the portal's Key filter groups).
 * Named by the newest key or an old one, on /v1/usage and /admin/usage alike, and by
 * `tollgate usage --key` on the same database, which answers what /admin/usage does;
 * `tollgate margins --key`, like /admin/margins, is the one key id. Another account's key
 * matches nothing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chat, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";

const dir = mkdtempSync(join(tmpdir(), "tollgate-key-lines-"));
const DB = join(dir, "lines.db");
let g: Gateway;
beforeAll(async () => {
  g = await startGateway({ upstream: true, dbPath: DB });
});
afterAll(async () => {
  await g?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Report = { data: { key_id: string }[]; totals: { requests: number } };
const mock = { prompt_tokens: 10, completion_tokens: 2 };

test("key_id names a rotation line: every request of its keys, before and after the rotation", async () => {
  const c = await g.customer(10_000_000);
  for (let i = 0; i < 2; i++) expect((await chat(g.url, c.key, { model: "grok-4", messages: user(), mock })).status).toBe(200);
  const res = await g.admin(`/admin/keys/${c.keyId}/rotate`, { body: { grace_seconds: 0 } });
  expect(res.status).toBe(201);
  const next = (await res.json()) as { id: string; key: string };
  expect((await chat(g.url, next.key, { model: "grok-4", messages: user(), mock })).status).toBe(200);

  const customer = async (keyId: string) => (await (await fetch(`${g.url}/v1/usage?key_id=${keyId}`, { headers: { authorization: `Bearer ${next.key}` } })).json()) as Report;
  const admin = async (keyId: string) => (await (await g.admin(`/admin/usage?key_id=${keyId}`)).json()) as Report;
  for (const id of [next.id, c.keyId]) {
    for (const r of [await customer(id), await admin(id)]) {
      expect(r.totals.requests).toBe(3);
      expect(new Set(r.data.map((x) => x.key_id))).toEqual(new Set([c.keyId, next.id]));
    }
  }
  // Another account's key, named by this customer: nothing.
  const other = await g.customer(10_000_000);
  expect((await chat(g.url, other.key, { model: "grok-4", messages: user(), mock })).status).toBe(200);
  expect((await customer(other.keyId)).totals.requests).toBe(0);
});

/** `tollgate <command> --db <the gateway's file> … --json`, as an operator runs it beside the gateway. */
async function cli(command: string, ...args: string[]): Promise<unknown> {
  const proc = Bun.spawn([process.execPath, resolve(import.meta.dir, "../src/index.ts"), command, "--db", DB, ...args, "--json"], {
    cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir }, stdout: "pipe", stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  return JSON.parse(out);
}

test("tollgate usage --key answers what /admin/usage?key_id= does: the whole rotation line", async () => {
  const c = await g.customer(10_000_000);
  expect((await chat(g.url, c.key, { model: "grok-4", messages: user(), mock })).status).toBe(200);
  const res = await g.admin(`/admin/keys/${c.keyId}/rotate`, { body: { grace_seconds: 0 } });
  expect(res.status).toBe(201);
  const next = (await res.json()) as { id: string; key: string };
  for (let i = 0; i < 2; i++) expect((await chat(g.url, next.key, { model: "grok-4", messages: user(), mock })).status).toBe(200);
  await g.runtime.deps.credits.flush();

  for (const id of [next.id, c.keyId]) {
    const api = (await (await g.admin(`/admin/usage?key_id=${id}`)).json()) as Report;
    expect(api.totals.requests).toBe(3);
    expect(await cli("usage", "--key", id)).toEqual(api);
    // Margins read one key id, on the API and the CLI alike.
    const margins = (await (await g.admin(`/admin/margins?key_id=${id}`)).json()) as { totals: { requests: number } };
    expect(margins.totals.requests).toBe(id === next.id ? 2 : 1);
    expect(await cli("margins", "--key", id)).toEqual(margins);
  }
});
