/**
 * Three compiled gateways on one PostgreSQL database: money exact across instances (leases),
 * limits shared, changes seen everywhere within a second, nothing lost when one is killed.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { until } from "./support/chat";
import { startBinaryGateway, type BinaryGateway, type Customer } from "./support/gateway";
import { books, startPgGateways, type PgCluster } from "./support/pg-gateways";

setDefaultTimeout(180_000);

let upstream: MockUpstream;
let cluster: PgCluster;
let gws: BinaryGateway[];
/** Costs exactly its hold: no input price, max_tokens = the completion the fake upstream reports. */
const FLAT = { id: "flat", provider: "fake", input_price: 0, cached_input_price: 0, output_price: 10, max_output_tokens: 100 };
const flatBody = { model: "flat", max_tokens: 100, messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 0, completion_tokens: 100 } };
const FLAT_COST = 100 * 10;

beforeAll(async () => {
  upstream = startFakeUpstream();
  const catalogue = fakeCatalogue(upstream.url);
  cluster = await startPgGateways(3, {
    config: {
      ...catalogue, ...SINGLE_SHOT, models: [...catalogue.models, FLAT], log_format: "off", max_concurrent_streams: 2_000,
      plans: { default: { rpm: 1_000_000, tpm: 1_000_000_000, concurrency: 1_000 }, small: { rpm: 1_000, tpm: 1_000_000, concurrency: 10 } },
    },
  });
  // A copy: instances added later (the kill -9 victim) are not among the three.
  gws = [...cluster.gateways];
});

afterAll(async () => {
  await cluster?.stop();
  await upstream?.stop();
});

const post = (gw: BinaryGateway, key: string, body: unknown, signal?: AbortSignal) =>
  fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body), signal });

describe("three instances on PostgreSQL", () => {
  test("200 concurrent requests over 3 instances on a balance for exactly 10: exactly 10 admitted, none negative", async () => {
    const c = await gws[0]!.customer(10 * FLAT_COST);
    const statuses = await Promise.all(Array.from({ length: 200 }, async (_, i) => (await post(gws[i % 3]!, c.key, flatBody)).status));
    expect(statuses.filter((s) => s === 200).length).toBe(10);
    expect(statuses.filter((s) => s !== 200 && s !== 402)).toEqual([]);
    expect(await gws[1]!.balance(c.accountId)).toBe(0);
    const b = await books(cluster.sql);
    expect(b.mismatched).toBe(0);
    expect(b.negative).toBe(0);
  });

  test("a revoked key is refused by every instance within a second", async () => {
    const c = await gws[0]!.customer(1_000_000);
    for (const g of gws) expect((await post(g, c.key, flatBody)).status).toBe(200);
    const revoked = await gws[1]!.admin(`/admin/keys/${c.keyId}`, { method: "DELETE" });
    expect(revoked.status).toBe(200);
    const t0 = performance.now();
    const seen = await Promise.all(gws.map(async (g) => {
      while ((await g.me(c.key)).status !== 401) await Bun.sleep(20);
      return performance.now() - t0;
    }));
    expect(Math.max(...seen)).toBeLessThan(1_000);
  });

  test("a key's RPM holds across instances (never above the bucket, a 429 says when to retry)", async () => {
    const c = await gws[0]!.customer(10_000_000);
    expect((await gws[0]!.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 60 } })).status).toBe(200);
    await Bun.sleep(300);
    const t0 = performance.now();
    const res = await Promise.all(Array.from({ length: 180 }, (_, i) => post(gws[i % 3]!, c.key, flatBody)));
    const elapsed = performance.now() - t0;
    const ok = res.filter((r) => r.status === 200).length;
    const limited = res.filter((r) => r.status === 429);
    // The bucket (60) plus what refilled meanwhile; at most one batch (3) per other instance kept back.
    expect(ok).toBeLessThanOrEqual(60 + Math.ceil(elapsed / 1000));
    expect(ok).toBeGreaterThanOrEqual(60 - 2 * 3);
    expect(limited.length).toBe(180 - ok);
    for (const r of limited) expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  test("GET /v1/me on an instance that never served the key shows the account's balance, the key's spend and its budget", async () => {
    const c = await gws[0]!.customer(5_000_000);
    expect((await gws[0]!.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { spend_cap_micros: 4_000_000, budget: { period: "month", amount_micros: 3_000_000 } } })).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await post(gws[0]!, c.key, flatBody)).status).toBe(200);
    await Bun.sleep(300);
    const me = (await (await gws[2]!.me(c.key)).json()) as { balance_micros: number; key: { spent_micros: number }; budgets: { remaining_micros: number }[] };
    expect(me.balance_micros).toBe(5_000_000 - 2 * FLAT_COST);
    expect(me.key.spent_micros).toBe(2 * FLAT_COST);
    expect(me.budgets.map((b) => b.remaining_micros)).toEqual([3_000_000 - 2 * FLAT_COST]);
  });

  test("a key's rpm lowered and raised again takes effect on every instance, those already serving it too", async () => {
    const c = await gws[0]!.customer(10_000_000);
    for (const g of gws) expect((await post(g, c.key, flatBody)).status).toBe(200);
    expect((await gws[0]!.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 3 } })).status).toBe(200);
    await Bun.sleep(300);
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await post(gws[i % 3]!, c.key, flatBody)).status);
    // The shared bucket (3) and at most a bucket's worth kept back per instance.
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(3 * 4);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(30 - 3 * 4);
    expect((await gws[1]!.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: null } })).status).toBe(200);
    // The requests refused after their bodies cost theirs (as on one process): the debt they left
    // is paid into the shared bucket at its refill rate, then every instance serves the key again.
    let cleared = false;
    for (let i = 0; i < 100 && !cleared; i++) {
      cleared = (await post(gws[i % 3]!, c.key, flatBody)).status === 200;
      if (!cleared) await Bun.sleep(100);
    }
    expect(cleared).toBe(true);
    await Bun.sleep(1_300);
    const after: number[] = [];
    for (let i = 0; i < 9; i++) after.push((await post(gws[i % 3]!, c.key, flatBody)).status);
    expect(after).toEqual(Array(9).fill(200));
  });
});

type Call = { path: string; body: Record<string, unknown>; abortAfterMs?: number };

/** A random request: chat, Responses or Messages; JSON or a stream; one in ten fails upstream, one in eight is cut by its client. */
function randomCall(i: number): Call {
  const r = (n: number) => (i * 7919 + n * 104729) % 97;
  const stream = r(2) % 2 === 0;
  const mock = { prompt_tokens: 10 + (r(6) % 50), completion_tokens: 5 + (r(7) % 30), ...(r(1) % 10 === 0 ? { status: 500 } : {}) };
  const abortAfterMs = r(3) % 8 === 0 ? 5 + (r(4) % 40) : undefined;
  const kind = i % 3;
  if (kind === 0) return { path: "/v1/chat/completions", body: { model: "grok-4", messages: [{ role: "user", content: "hi" }], stream, mock }, abortAfterMs };
  if (kind === 1) return { path: "/v1/responses", body: { model: "grok-4", input: "hi", stream, mock }, abortAfterMs };
  return { path: "/v1/messages", body: { model: "grok-4", max_tokens: 60, messages: [{ role: "user", content: "hi" }], stream, mock }, abortAfterMs };
}

async function send(gw: BinaryGateway, key: string, call: Call): Promise<{ status: number; requestId: string | null }> {
  const ac = new AbortController();
  if (call.abortAfterMs !== undefined) setTimeout(() => ac.abort(), call.abortAfterMs);
  try {
    const res = await fetch(gw.url + call.path, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify(call.body),
      // Bounded, so that a request that never ends shows as -1 in the statuses rather than as the test's timeout.
      signal: AbortSignal.any([ac.signal, AbortSignal.timeout(60_000)]),
    });
    await res.text();
    return { status: res.status, requestId: res.headers.get("x-request-id") };
  } catch (e) {
    return { status: (e as Error)?.name === "TimeoutError" ? -1 : 0, requestId: null };
  }
}

/** Runs `tasks` with at most `width` at once. */
async function pool<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await task(i);
    }
  }));
  return out;
}

describe("three instances under mixed load", () => {
  test("3,000 random requests with top-ups over 3 instances: every balance = credit − charges to the micro, nothing held", async () => {
    const CREDITS = 20_000_000;
    const cs: Customer[] = [];
    for (let i = 0; i < 6; i++) cs.push(await gws[i % 3]!.customer(CREDITS));
    const topups = new Map<string, number>();
    const results = await pool(3_000, 120, async (i) => {
      const c = cs[i % cs.length]!;
      if (i % 150 === 75) {
        const r = await gws[(i + 1) % 3]!.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: 1_000_000 + i } });
        expect(r.status).toBe(201);
        topups.set(c.accountId, (topups.get(c.accountId) ?? 0) + 1_000_000 + i);
      }
      return send(gws[i % 3]!, c.key, randomCall(i));
    });
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThan(1_500);
    expect(results.filter((r) => r.status >= 500 && r.status !== 502 && r.status !== 500)).toEqual([]);
    // Settlements of requests whose clients left finish in the background.
    await Bun.sleep(1_000);
    for (const c of cs) for (const g of gws) expect((await g.account(c.accountId)).held_micros).toBe(0);
    const b = await books(cluster.sql);
    expect(b.mismatched).toBe(0);
    expect(b.negative).toBe(0);
    for (const c of cs) {
      const [{ s }] = await cluster.sql`SELECT coalesce(sum(-amount_micros), 0)::bigint AS s FROM ledger_entries WHERE account_id = ${c.accountId} AND kind = 'charge'`;
      expect(await gws[2]!.balance(c.accountId)).toBe(CREDITS + (topups.get(c.accountId) ?? 0) - Number(s));
    }
    // Each charge is its usage row's cost, once per request id.
    const [{ bad }] = await cluster.sql`
      SELECT count(*)::int AS bad FROM ledger_entries l JOIN usage_log u ON u.request_id = l.request_id
      WHERE l.kind = 'charge' AND u.cost_micros <> -l.amount_micros`;
    expect(bad).toBe(0);
    const [{ dup }] = await cluster.sql`SELECT count(*)::int AS dup FROM (SELECT request_id FROM ledger_entries WHERE kind = 'charge' GROUP BY request_id HAVING count(*) > 1) d`;
    expect(dup).toBe(0);
  });

  test("kill -9 of one instance under load: its completed responses charged once, its leases back within their TTL, the others keep serving", async () => {
    const victim = await cluster.add("victim");
    const c = await gws[0]!.customer(10_000_000);
    const small = await gws[0]!.customer(10 * FLAT_COST);
    // Five requests of the small account wait upstream on the victim when it dies: their credit stays leased to it.
    const stuck = Array.from({ length: 5 }, () => post(victim, small.key, { ...flatBody, mock: { ...flatBody.mock, delay_ms: 60_000 } }).catch(() => null));
    const leasedToVictim = async () =>
      Number((await cluster.sql`SELECT coalesce(sum(amount_micros), 0)::bigint AS n FROM credit_leases WHERE scope = ${`acc:${small.accountId}`} AND instance_id = 'victim'`)[0].n);
    // Every wait is bounded, so that a stall fails here with its name rather than at the test's timeout.
    expect(await until(async () => (await leasedToVictim()) >= 5 * FLAT_COST, 20_000, 50)).toBe(true);
    const all = [gws[0]!, gws[1]!, gws[2]!, victim];
    let victimDone = 0;
    const load = pool(600, 60, async (i) => {
      const r = { ...(await send(all[i % 4]!, c.key, { ...randomCall(i), abortAfterMs: undefined })), victim: i % 4 === 3 };
      if (r.victim && r.status === 200) victimDone++;
      return r;
    });
    // Killed in the middle of the load, once it has answered some requests completely.
    expect(await until(() => victimDone >= 10, 30_000)).toBe(true);
    victim.proc.kill("SIGKILL");
    const killedAt = Date.now();
    const results = await load;
    const others = results.filter((r) => !r.victim);
    expect(others.filter((r) => r.status <= 0 || r.status === 503)).toEqual([]);
    const completed = results.filter((r) => r.victim && r.status === 200).map((r) => r.requestId!);
    expect(completed.length).toBeGreaterThan(0);
    const charged = await cluster.sql`SELECT request_id, count(*)::int AS n FROM ledger_entries WHERE kind = 'charge' AND request_id IN ${cluster.sql(completed)} GROUP BY request_id`;
    expect(charged.length).toBe(completed.length);
    for (const r of charged) expect(r.n).toBe(1);
    await Promise.all(stuck);
    // Until the victim's lease expires (30 s unrenewed) the others have only the rest; then all of it.
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await post(gws[i % 3]!, small.key, flatBody)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect((await post(gws[0]!, small.key, flatBody)).status).toBe(402);
    let admitted = 0;
    while (admitted < 5 && Date.now() - killedAt < 45_000) {
      if ((await post(gws[admitted % 3]!, small.key, flatBody)).status === 200) admitted++;
      else await Bun.sleep(500);
    }
    expect(admitted).toBe(5);
    expect(Date.now() - killedAt).toBeLessThan(40_000);
    expect(await gws[1]!.balance(small.accountId)).toBe(0);
    const b = await books(cluster.sql);
    expect(b.mismatched).toBe(0);
    expect(b.negative).toBe(0);
  });
});

describe("deferred completions and changes across instances", () => {
  test("a deferred completion parked on one instance is charged once by whichever fetches it; the parking instance lets go of its hold", async () => {
    const c = await gws[0]!.customer(1_000_000);
    const res = await fetch(`${gws[0]!.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "later" }], max_tokens: 50, deferred: true, mock: { deferred_ms: 300, prompt_tokens: 7, completion_tokens: 5 } }),
    });
    const { request_id: id } = (await res.json()) as { request_id: string };
    expect((await gws[0]!.account(c.accountId)).held_micros).toBeGreaterThan(0);
    const get = (g: BinaryGateway) => fetch(`${g.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${c.key}` } });
    await Bun.sleep(400);
    expect((await get(gws[1]!)).status).toBe(200);
    expect((await get(gws[2]!)).status).toBe(200);
    const charges = await cluster.sql`SELECT -amount_micros AS c FROM ledger_entries WHERE request_id = ${id} AND kind = 'charge'`;
    expect(charges.map((r: { c: string }) => Number(r.c))).toEqual([7 * 3 + 5 * 15]);
    expect(await gws[2]!.balance(c.accountId)).toBe(1_000_000 - (7 * 3 + 5 * 15));
    // The sweeper (every 5 s) sees it settled elsewhere and releases the parked hold.
    const t0 = Date.now();
    while ((await gws[0]!.account(c.accountId)).held_micros > 0 && Date.now() - t0 < 8_000) await Bun.sleep(200);
    expect((await gws[0]!.account(c.accountId)).held_micros).toBe(0);
    expect(await gws[0]!.balance(c.accountId)).toBe(1_000_000 - (7 * 3 + 5 * 15));
  });

  test("a suspended account and a changed plan reach every instance within a second", async () => {
    const c = await gws[0]!.customer(1_000_000);
    for (const g of gws) expect((await post(g, c.key, flatBody)).status).toBe(200);
    expect((await gws[1]!.admin(`/admin/accounts/${c.accountId}`, { method: "PATCH", body: { status: "suspended" } })).status).toBe(200);
    let t0 = performance.now();
    const refused = await Promise.all(gws.map(async (g) => {
      while ((await post(g, c.key, flatBody)).status !== 401) await Bun.sleep(20);
      return performance.now() - t0;
    }));
    expect(Math.max(...refused)).toBeLessThan(1_000);
    expect((await gws[1]!.admin(`/admin/accounts/${c.accountId}`, { method: "PATCH", body: { status: "active" } })).status).toBe(200);
    expect((await gws[2]!.admin(`/admin/accounts/${c.accountId}/plan`, { method: "PUT", body: { plan: "small" } })).status).toBe(200);
    t0 = performance.now();
    const seen = await Promise.all(gws.map(async (g) => {
      while (((await (await g.me(c.key)).json()) as { limits?: { plan?: string } }).limits?.plan !== "small") await Bun.sleep(20);
      return performance.now() - t0;
    }));
    expect(Math.max(...seen)).toBeLessThan(1_000);
  });
});

describe("instance ids", () => {
  test("a second process under a live instance's id is refused at start; after a graceful stop the id is free", async () => {
    const extra = await startBinaryGateway({ config: fakeCatalogue(upstream.url), env: { TOLLGATE_DATABASE_URL: cluster.url, TOLLGATE_INSTANCE_ID: "solo" } });
    const twin = await startBinaryGateway({ config: fakeCatalogue(upstream.url), env: { TOLLGATE_DATABASE_URL: cluster.url, TOLLGATE_INSTANCE_ID: "solo" } }).catch((e: Error) => e);
    expect(twin).toBeInstanceOf(Error);
    expect((twin as Error).message).toContain('instance_id "solo" is in use by a running gateway');
    expect(await extra.stop()).toBe(0);
    const next = await startBinaryGateway({ config: fakeCatalogue(upstream.url), env: { TOLLGATE_DATABASE_URL: cluster.url, TOLLGATE_INSTANCE_ID: "solo" } });
    expect(await next.stop()).toBe(0);
  });
});
