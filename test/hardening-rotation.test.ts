/**
 * A rotation keeps one line: one spend cap and one budget, whatever is rotated when. A key
 * rotated already cannot be rotated again (that would split the line, each half with a fresh
 * cap), and requests in flight on the old key count against, and are charged to, the new one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chat, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";
import { join } from "./support/teams";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as joinPath } from "node:path";
import { rotateServedKey } from "../src/modules/keys/service";

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
});
afterAll(() => gw?.stop());

/** Holds about 15,0xx micros and is charged 10 × 3 + 1,000 × 15 = 15,030. */
const CHARGE = 15_030;
const ask = (key: string, delayMs = 0) =>
  chat(gw.url, key, { model: "grok-4", max_tokens: 1000, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 1000, ...(delayMs ? { delay_ms: delayMs } : {}) } });
const rotate = async (id: string, grace = 3600) => {
  const res = await gw.admin(`/admin/keys/${id}/rotate`, { body: { grace_seconds: grace } });
  return { status: res.status, body: (await res.json()) as { id: string; key: string; error?: { code: string } } };
};
const charged = (accountId: string) =>
  -gw.runtime.deps.store.sqlite.query<{ s: number }, [string]>("SELECT coalesce(sum(amount_micros), 0) AS s FROM ledger_entries WHERE account_id = ? AND kind = 'charge'").get(accountId)!.s;

describe("a key's rotation line", () => {
  test("a key rotated already is not rotated again: the line's budget is not given twice", async () => {
    const c = await gw.customer(10_000_000);
    expect((await gw.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { budget: { period: "month", amount_micros: 20_000 } } })).status).toBe(200);
    expect((await ask(c.key)).status).toBe(200);
    expect((await ask(c.key)).status).toBe(402);
    const first = await rotate(c.keyId);
    expect(first.status).toBe(201);
    expect((await ask(first.body.key)).status).toBe(402);
    const again = await rotate(c.keyId);
    expect(again.status).toBe(409);
    expect(again.body.error?.code).toBe("key_rotated");
    // The newest key of the line rotates, and keeps the line's spend.
    const next = await rotate(first.body.id);
    expect(next.status).toBe(201);
    expect((await ask(next.body.key)).status).toBe(402);
    expect(charged(c.accountId)).toBe(CHARGE);
  });

  test("requests in flight on the old key count against the new key's cap, and are charged to it", async () => {
    const c = await gw.customer(10_000_000);
    expect((await gw.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { spend_cap_micros: 100_000 } })).status).toBe(200);
    const inFlight = Array.from({ length: 6 }, () => ask(c.key, 1_500));
    await Bun.sleep(300);
    expect((await ask(c.key)).status).toBe(402);
    const rotated = await rotate(c.keyId, 60);
    expect(rotated.status).toBe(201);
    const more = await Promise.all(Array.from({ length: 6 }, () => ask(rotated.body.key)));
    expect(more.map((r) => r.status)).toEqual([402, 402, 402, 402, 402, 402]);
    expect((await Promise.all(inFlight)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(charged(c.accountId)).toBe(6 * CHARGE);
    const spent = (id: string) => gw.runtime.deps.store.sqlite.query<{ s: number }, [string]>("SELECT spent_micros AS s FROM api_keys WHERE id = ?").get(id)!.s;
    gw.runtime.deps.credits.balance(c.accountId);
    expect(spent(rotated.body.id)).toBe(6 * CHARGE);
    // The line spent 90,180 of its 100,000: no request of up to 15,0xx fits any more.
    expect((await ask(rotated.body.key)).status).toBe(402);
  });

  test("/v1/me of a key in its grace shows the line's cap and spend, the ones its requests are held against", async () => {
    const c = await gw.customer(10_000_000);
    expect((await ask(c.key)).status).toBe(200);
    const rotated = await rotate(c.keyId);
    expect(rotated.status).toBe(201);
    // Written on the line's newest key, whichever key is named: the old key's own row keeps null.
    expect((await gw.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { spend_cap_micros: 20_000 } })).status).toBe(200);
    const res = await ask(c.key);
    expect(res.status).toBe(402);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("spend_cap_reached");
    type Me = { key: { id: string; spend_cap_micros: number | null; spent_micros: number } };
    const me = async (key: string) => ((await (await gw.me(key)).json()) as Me).key;
    expect(await me(rotated.body.key)).toMatchObject({ id: rotated.body.id, spend_cap_micros: 20_000, spent_micros: CHARGE });
    expect(await me(c.key)).toMatchObject({ id: c.keyId, spend_cap_micros: 20_000, spent_micros: CHARGE });
  });
});

describe("a rotated key's grace", () => {
  test("can end sooner, never later nor never: the old secret cannot be kept alive by an edit", async () => {
    const c = await gw.customer(10_000_000);
    const next = await rotate(c.keyId, 3600);
    const edit = (body: unknown) => gw.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body });
    const refused = async (body: unknown) => {
      const res = await edit(body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("key_rotated");
    };
    const expiry = async () => ((await (await gw.admin(`/admin/keys/${c.keyId}`)).json()) as { expires_at: number }).expires_at;
    const graceEnd = await expiry();
    await refused({ expires_at: null });
    await refused({ expires_at: graceEnd + 86_400 });
    expect(await expiry()).toBe(graceEnd);
    expect((await edit({ expires_at: graceEnd - 600, name: "winding down" })).status).toBe(200);
    expect(await expiry()).toBe(graceEnd - 600);
    // In the portal too: clearing the date on the old key's form is refused.
    const { w } = await join(gw, c.accountId, "owner", `grace-${crypto.randomUUID().slice(0, 8)}@example.com`);
    const form = `/portal/keys/${c.keyId}/edit`;
    const res = await w.submit(form, form, { name: "winding down", expires_on: "", spend_cap_usd: "", budget_usd: "", budget_period: "month", rpm: "", tpm: "", concurrency: "" });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("was rotated");
    expect(await expiry()).toBe(graceEnd - 600);
    expect((await gw.me(next.body.key)).status).toBe(200);
  });
});

describe("a rotation line's rate limits", () => {
  test("rotation refills no bucket, and a key in its grace shares the line's concurrency with its replacement", async () => {
    const c = await gw.customer(10_000_000);
    expect((await gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 2 } })).status).toBe(200);
    const quick = (key: string) => chat(gw.url, key, { model: "grok-4", max_tokens: 10, messages: user("hi"), mock: { prompt_tokens: 1, completion_tokens: 1 } }).then((r) => r.status);
    expect([await quick(c.key), await quick(c.key), await quick(c.key)]).toEqual([200, 200, 429]);
    const next = await rotate(c.keyId, 600);
    expect(await quick(next.body.key)).toBe(429);
    expect(await quick(c.key)).toBe(429);

    const d = await gw.customer(10_000_000);
    expect((await gw.admin(`/admin/keys/${d.keyId}/limits`, { method: "PUT", body: { concurrency: 1 } })).status).toBe(200);
    const line = await rotate(d.keyId, 600);
    const slow = (key: string) => chat(gw.url, key, { model: "grok-4", max_tokens: 10, messages: user("hi"), mock: { prompt_tokens: 1, completion_tokens: 1, delay_ms: 500 } }).then((r) => r.status);
    const statuses = await Promise.all([slow(d.key), slow(line.body.key), slow(d.key)]);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);
  });
});

/** A chat request whose body arrives in two halves, `between` running in the pause; the status line. */
async function slowAsk(key: string, between: () => Promise<unknown>): Promise<string> {
  const body = JSON.stringify({ model: "grok-4", max_tokens: 50, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 5 } });
  let text = "";
  const done = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: Number(new URL(gw.url).port),
    socket: { data: (_s, d) => void (text += new TextDecoder().decode(d)), close: () => done.resolve(), error: () => done.resolve() },
  });
  const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  socket.write(head + body.slice(0, 20));
  await Bun.sleep(200);
  await between();
  socket.write(body.slice(20));
  await Promise.race([done.promise, Bun.sleep(5_000)]);
  socket.end();
  return text.split("\r\n")[0]!;
}

describe("a key that stops while its request's body arrives", () => {
  test("revoked, or rotated with no grace, mid-body: 401, nothing charged", async () => {
    const c = await gw.customer(10_000_000);
    expect(await slowAsk(c.key, () => gw.admin(`/admin/keys/${c.keyId}`, { method: "DELETE" }))).toBe("HTTP/1.1 401 Unauthorized");
    const d = await gw.customer(10_000_000);
    expect(await slowAsk(d.key, () => rotate(d.keyId, 0))).toBe("HTTP/1.1 401 Unauthorized");
    expect(charged(c.accountId) + charged(d.accountId) === 0).toBe(true);
    // The same slow request with a key that stays is served.
    const e = await gw.customer(10_000_000);
    expect(await slowAsk(e.key, async () => {})).toBe("HTTP/1.1 200 OK");
  });
});

describe("a settlement waiting for its commit when the key is rotated", () => {
  test("counts on the line's new key: its charge in the spend, nothing left held", async () => {
    const dir = mkdtempSync(joinPath(tmpdir(), "tg-rotation-"));
    const file = await startGateway({ upstream: true, dbPath: joinPath(dir, "t.db") });
    try {
      const c = await file.customer(50_000_000, { spend_cap_micros: 1_000 });
      const credits = file.runtime.deps.credits;
      credits.reserve({ accountId: c.accountId, keyId: c.keyId, capKeyId: c.keyId, requestId: "req_rotation_race", amount: 600, freshId: true, live: true });
      // Settled (charge 500) and queued for this turn's group commit; rotated in the same turn.
      const settled = credits.settle("req_rotation_race", 500);
      const { row } = await rotateServedKey({ store: file.runtime.deps.store, credits }, c.keyId, 3600, "admin", Date.now());
      await settled;
      await credits.flush();
      expect(credits.keySpend(row.id)).toMatchObject({ spent: 500, held: 0 });
      const spentCol = file.runtime.deps.store.sqlite.query<{ id: string; spent_micros: number }, []>("SELECT id, spent_micros FROM api_keys").all();
      expect(Object.fromEntries(spentCol.map((r) => [r.id, r.spent_micros]))).toEqual({ [c.keyId]: 0, [row.id]: 500 });
    } finally {
      await file.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a line rotated many times within the grace", () => {
  test("keeps every key that still works within reach of the newest: the 33rd rotation is refused", async () => {
    const c = await gw.customer(10_000_000, { spend_cap_micros: 2_000 });
    let newest = c.keyId;
    const secrets = [c.key];
    for (let r = 0; r < 31; r++) {
      const next = await rotate(newest);
      expect(next.status).toBe(201);
      newest = next.body.id;
      secrets.push(next.body.key);
    }
    // 31 rotations: the first key is 31 hops from the newest; one more puts it at 32, still in reach.
    const last = await rotate(newest);
    expect(last.status).toBe(201);
    const refused = await rotate(last.body.id);
    expect(refused.status).toBe(409);
    expect(refused.body.error?.code).toBe("rotation_limit");
    // Revoking the first key (the only one 33 hops away) lets the line rotate again.
    expect((await gw.admin(`/admin/keys/${c.keyId}`, { method: "DELETE" })).status).toBe(200);
    const head = await rotate(last.body.id);
    expect(head.status).toBe(201);
    // The oldest key still working (32 hops back) spends against the line's one cap.
    const cheap = (key: string) => chat(gw.url, key, { model: "grok-4", max_tokens: 10, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 10 } });
    let status = 200;
    for (let i = 0; i < 20 && status === 200; i++) status = (await cheap(head.body.key)).status;
    expect(status).toBe(402);
    expect((await cheap(secrets[1]!)).status).toBe(402);
  });
});
