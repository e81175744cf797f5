/**
 * Objects the upstream keeps under the key every customer shares (stored responses, deferred
 * results) are reached only by who may: the account's owner and admins, a member-role key its
 * own member's, never through a key not allowed the object's model; and every read or deletion
 * is a request of the key's rate limits, since each asks the upstream with the shared key.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startGateway, type Gateway } from "./support/gateway";
import { join, portalKey } from "./support/teams";

setDefaultTimeout(60_000);

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
});
afterAll(() => gw?.stop());

let n = 0;
const email = (who: string) => `${who}-${++n}-${crypto.randomUUID().slice(0, 6)}@example.com`;
const call = (key: string, method: string, path: string, body?: unknown) =>
  fetch(gw.url + path, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
const stored = async (key: string, input = "x") => {
  const r = await call(key, "POST", "/v1/responses", { model: "grok-4", input, mock: { prompt_tokens: 5, completion_tokens: 3 } });
  expect(r.status).toBe(200);
  return ((await r.json()) as { id: string }).id;
};

describe("who reaches a stored response or a deferred result", () => {
  test("a member-role key only its own member's; the owner's and admins' keys all of the account's", async () => {
    const c = await gw.customer(20_000_000);
    await join(gw, c.accountId, "owner", email("owner"));
    const admin = await join(gw, c.accountId, "admin", email("admin"));
    const m1 = await join(gw, c.accountId, "member", email("m1"));
    const m2 = await join(gw, c.accountId, "member", email("m2"));
    const [ka, k1, k2] = [await portalKey(gw, admin.w, "admin"), await portalKey(gw, m1.w, "m1"), await portalKey(gw, m2.w, "m2")];
    const owners = await stored(c.key, "owner's confidential prompt");
    const mine = await stored(k1.key);
    const d = await call(k2.key, "POST", "/v1/chat/completions", { model: "grok-4", deferred: true, max_tokens: 10, messages: [{ role: "user", content: "m2 private" }], mock: { deferred_ms: 10 } });
    const deferred = ((await d.json()) as { request_id: string }).request_id;
    await Bun.sleep(100);

    // Member 1: the owner's response and member 2's deferred result look missing.
    const items = await call(k1.key, "GET", `/v1/responses/${owners}/input_items`);
    expect(items.status).toBe(404);
    expect(await items.text()).not.toContain("confidential");
    const continued = await call(k1.key, "POST", "/v1/responses", { model: "grok-4", input: "more", previous_response_id: owners, mock: { prompt_tokens: 5, completion_tokens: 3 } });
    expect(continued.status).toBe(404);
    expect((await call(k1.key, "GET", `/v1/chat/deferred-completion/${deferred}`)).status).toBe(404);
    expect((await call(k1.key, "DELETE", `/v1/responses/${owners}`)).status).toBe(404);
    // Its own, and the others' own, as before.
    expect((await call(k1.key, "GET", `/v1/responses/${mine}`)).status).toBe(200);
    expect((await call(k2.key, "GET", `/v1/chat/deferred-completion/${deferred}`)).status).toBe(200);
    // The owner's and an admin's keys see every member's, as they see every member's usage.
    expect((await call(c.key, "GET", `/v1/responses/${mine}`)).status).toBe(200);
    expect((await call(ka.key, "GET", `/v1/responses/${owners}`)).status).toBe(200);
  });

  test("never through a key not allowed the object's model", async () => {
    const c = await gw.customer(20_000_000);
    const id = await stored(c.key);
    const cheap = await gw.key(c.accountId, { models: ["cheap"] });
    expect((await call(cheap.key, "GET", `/v1/models/grok-4`)).status).toBe(404);
    expect((await call(cheap.key, "GET", `/v1/responses/${id}`)).status).toBe(404);
    expect((await call(c.key, "GET", `/v1/responses/${id}`)).status).toBe(200);
  });
});

describe("reads and deletions of stored responses", () => {
  test("are requests of the key's limits: past its rpm, 429 and the upstream is not asked", async () => {
    const c = await gw.customer(10_000_000);
    const id = await stored(c.key);
    await Bun.sleep(100);
    expect((await gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 3, concurrency: 1 } })).status).toBe(200);
    const upstreamReads = () => gw.upstream.requests.filter((q) => q.method === "GET" && q.path.includes(id)).length;
    const before = upstreamReads();
    const answers = await Promise.all(Array.from({ length: 40 }, (_, j) => call(c.key, "GET", j % 2 ? `/v1/responses/${id}` : `/v1/responses/${id}/input_items`)));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(37);
    expect(upstreamReads() - before).toBeLessThanOrEqual(3);
    const refused = answers.find((r) => r.status === 429)!;
    expect(refused.headers.get("retry-after")).not.toBeNull();
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("rate_limit_exceeded");
  });
});
