import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(30_000);

const USD = 1_000_000;
let s: Gateway;
beforeAll(async () => {
  // Accounts may be created on configured plans only.
  s = await startGateway({ config: { plans: { pro: { rpm: 600, tpm: 1_000_000, concurrency: 50 } } } });
});
afterAll(async () => {
  await s.stop();
});

test("GET /v1/me describes the calling key's account, money in micros and USD, and the key itself", async () => {
  const expires = Math.floor(Date.now() / 1000) + 7 * 86_400;
  const acc = (await (await s.admin("/admin/accounts", { body: { name: "Initech", plan: "pro" } })).json()) as { id: string };
  await s.admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: 12_500_000 } });
  const created = (await (
    await s.admin(`/admin/accounts/${acc.id}/keys`, { body: { name: "laptop", models: ["grok-4"], expires_at: expires, spend_cap_micros: 3 * USD } })
  ).json()) as { id: string; key: string };
  // Another key of the same account: /v1/me shows the calling one.
  await s.admin(`/admin/accounts/${acc.id}/keys`, { body: { name: "other" } });
  s.runtime.deps.credits.reserve({ accountId: acc.id, keyId: created.id, requestId: "req_inflight", amount: 2_250_000 });

  const res = await s.me(created.key);
  expect(res.status).toBe(200);
  expect(res.headers.get("x-request-id")).toStartWith("req_");
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({
    object: "me",
    account_id: acc.id,
    account_name: "Initech",
    plan: "pro",
    balance_micros: 12_500_000,
    held_micros: 2_250_000,
    available_micros: 10_250_000,
    balance_usd: "12.5",
    held_usd: "2.25",
    available_usd: "10.25",
    key: {
      id: created.id,
      name: "laptop",
      display: `sk-tg-…${created.key.slice(-4)}`,
      expires_at: expires,
      models: ["grok-4"],
      spend_cap_micros: 3 * USD,
      spent_micros: 0,
    },
  });
  expect(JSON.stringify(body)).not.toContain(created.key);

  // The charge shows up on the next call.
  await s.runtime.deps.credits.settle("req_inflight", 1_000_000);
  const after = (await (await s.me(created.key, "x-api-key")).json()) as Record<string, unknown>;
  expect(after).toMatchObject({
    balance_micros: 11_500_000,
    held_micros: 0,
    available_micros: 11_500_000,
    available_usd: "11.5",
    key: { spent_micros: 1_000_000 },
  });
});

test("a key with no restrictions shows nulls", async () => {
  const { key, keyId } = await s.customer(0);
  const body = (await (await s.me(key)).json()) as { key: Record<string, unknown>; balance_usd: string };
  expect(body.balance_usd).toBe("0");
  expect(body.key).toMatchObject({ id: keyId, name: "", expires_at: null, models: null, spend_cap_micros: null });
});

test("missing, unknown and revoked keys get 401 invalid_api_key in the OpenAI envelope", async () => {
  const { key, keyId } = await s.customer(USD);
  await s.admin(`/admin/keys/${keyId}`, { method: "DELETE" });
  for (const res of [await fetch(`${s.url}/v1/me`), await s.me("sk-tg-unknownunknownunknownunknownunknown"), await s.me(key)]) {
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toStartWith("application/json");
    expect(res.headers.get("x-request-id")).toStartWith("req_");
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ type: "invalid_request_error", code: "invalid_api_key", param: null });
  }
});
