/**
 * A usage filter by key covers the key's rotation line: the keys it replaced and those that
 * replaced it, whose spend GET /v1/me shows as the key's (and the portal's Key filter groups).
 * Named by the newest key or an old one, on /v1/usage and /admin/usage alike; another
 * account's key matches nothing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chat, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";

let g: Gateway;
beforeAll(async () => {
  g = await startGateway({ upstream: true });
});
afterAll(() => g.stop());

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
