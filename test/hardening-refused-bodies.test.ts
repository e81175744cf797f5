/**
 * A request refused after its body was read and parsed (a bad schema, an unknown model, a hold
 * the credit cannot cover) costs a request of the key's and the account's rpm, as an admitted one
 * does: a key cannot make the gateway read and parse bodies beyond its limits by sending ones that
 * are refused. Refusals before the body (no credit at all, no request left) still cost nothing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chat, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
});
afterAll(() => gw?.stop());

const limit = (keyId: string, rpm: number) => gw.admin(`/admin/keys/${keyId}/limits`, { method: "PUT", body: { rpm } });

test("bodies refused after reading take the key's requests: then 429 before any body is read", async () => {
  const c = await gw.customer(1_000_000);
  expect((await limit(c.keyId, 3)).status).toBe(200);
  const refusals = [
    { model: "no-such-model", messages: user() },
    { model: "grok-4", messages: "not a list" },
    { model: "grok-4", messages: user(), max_tokens: 10_000_000 },
  ];
  const statuses: number[] = [];
  for (const body of refusals) {
    const res = await chat(gw.url, c.key, body);
    statuses.push(res.status);
    await res.arrayBuffer();
  }
  expect(statuses).toEqual([404, 400, 402]);
  const next = await chat(gw.url, c.key, { model: "no-such-model", messages: user() });
  expect(next.status).toBe(429);
  expect(Number(next.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(await gw.balance(c.accountId)).toBe(1_000_000);
});

test("the remaining-requests header of a refusal counts it", async () => {
  const c = await gw.customer(1_000_000);
  expect((await limit(c.keyId, 10)).status).toBe(200);
  const first = await chat(gw.url, c.key, { model: "no-such-model", messages: user() });
  expect(first.status).toBe(404);
  expect(first.headers.get("x-ratelimit-remaining-requests")).toBe("9");
});

test("an account with no credit at all is refused before its body, at no cost to its requests", async () => {
  const c = await gw.customer(0);
  expect((await limit(c.keyId, 2)).status).toBe(200);
  for (let i = 0; i < 5; i++) {
    const res = await chat(gw.url, c.key, { model: "grok-4", messages: user() });
    expect(res.status).toBe(402);
    await res.arrayBuffer();
  }
});
