import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { sha256Hex } from "../src/lib/crypto";
import { resolveAdminToken } from "../src/identity/admin-token";
import { freshDb, manualClock } from "./support/foundation";
import { ADMIN_TOKEN, startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(30_000);

const USD = 1_000_000;
let s: Gateway;
/** Every response seen in this file: each must carry x-request-id. */
const seen: { what: string; res: Response }[] = [];

beforeAll(async () => {
  // Accounts may be created on configured plans only.
  s = await startGateway({ config: { plans: { pro: { rpm: 600, tpm: 1_000_000, concurrency: 50 } } } });
});
afterAll(async () => {
  await s.stop();
});

type Init = { method?: string; body?: unknown; headers?: Record<string, string>; token?: string | null };
async function call(path: string, init: Init = {}) {
  const headers: Record<string, string> = { "content-type": "application/json", ...init.headers };
  const token = init.token === undefined ? ADMIN_TOKEN : init.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(s.url + path, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers,
    body: init.body === undefined ? undefined : typeof init.body === "string" ? init.body : JSON.stringify(init.body),
  });
  seen.push({ what: `${init.method ?? ""} ${path}`, res });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

function expectEnvelope(r: { status: number; json: any; headers: Headers }, status: number, code?: string | null, param?: string | null) {
  expect(r.status).toBe(status);
  expect(r.headers.get("content-type")).toStartWith("application/json");
  expect(Object.keys(r.json)).toEqual(["error"]);
  expect(Object.keys(r.json.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(typeof r.json.error.message).toBe("string");
  expect(r.json.error.message.length).toBeGreaterThan(0);
  if (code !== undefined) expect(r.json.error.code).toBe(code);
  if (param !== undefined) expect(r.json.error.param).toBe(param);
}

async function newAccount(body: Record<string, unknown> = { name: "Acme" }) {
  const r = await call("/admin/accounts", { body });
  expect(r.status).toBe(201);
  return r.json as { id: string };
}

describe("admin authentication", () => {
  test("no token, a wrong token, another scheme and a customer key are all 401 in the envelope", async () => {
    const { key } = await s.customer(USD);
    const cases: Init[] = [
      { token: null },
      { token: "wrong-token-wrong-token" },
      { token: `${ADMIN_TOKEN}x` },
      { token: key },
      { token: null, headers: { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` } },
      { token: null, headers: { "x-api-key": ADMIN_TOKEN } },
    ];
    for (const init of cases) {
      for (const [path, method, body] of [
        ["/admin/accounts", "GET", undefined],
        ["/admin/accounts", "POST", { name: "x" }],
        ["/admin/audit", "GET", undefined],
        ["/admin/keys/key_x", "DELETE", undefined],
      ] as const) {
        const r = await call(path, { ...init, method, body });
        expectEnvelope(r, 401, "invalid_admin_token");
      }
    }
    // Nothing was created by the refused calls.
    const list = await call("/admin/accounts?q=x");
    expect(list.json.data.filter((a: { name: string }) => a.name === "x")).toEqual([]);
  });

  test("the admin token is not a customer key", async () => {
    const r = await call("/v1/me");
    expectEnvelope(r, 401, "invalid_api_key");
  });
});

describe("accounts", () => {
  test("create, read, list with search and paging, update, suspend", async () => {
    const created = await call("/admin/accounts", { body: { name: "  Globex  ", email: "ops@globex.test", plan: "pro" } });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({
      id: expect.stringMatching(/^acc_[0-9A-Za-z]{20}$/),
      object: "account",
      name: "Globex",
      email: "ops@globex.test",
      plan: "pro",
      status: "active",
      balance_micros: 0,
      held_micros: 0,
      available_micros: 0,
      balance_usd: "0",
      held_usd: "0",
      available_usd: "0",
      lifetime_topup_micros: 0,
      created_at: expect.any(Number),
    });
    const id = created.json.id;
    expect((await call(`/admin/accounts/${id}`)).json).toEqual(created.json);

    const found = await call("/admin/accounts?q=globex");
    expect(found.json.data.map((a: { id: string }) => a.id)).toEqual([id]);
    for (let i = 0; i < 3; i++) await newAccount({ name: `Paged ${i}` });
    const page = await call("/admin/accounts?q=Paged&limit=2");
    expect(page.json.object).toBe("list");
    expect(page.json.data).toHaveLength(2);
    expect(page.json.has_more).toBe(true);
    const rest = await call("/admin/accounts?q=Paged&limit=2&offset=2");
    expect(rest.json.data).toHaveLength(1);
    expect(rest.json.has_more).toBe(false);

    const patched = await call(`/admin/accounts/${id}`, { method: "PATCH", body: { name: "Globex Corp", status: "suspended", email: null } });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ name: "Globex Corp", status: "suspended", email: null, plan: "pro" });
  });

  test("searching accounts takes _ and % literally", async () => {
    const under = (await newAccount({ name: "Underscore", email: "john_doe@search.test" })).id;
    await newAccount({ name: "Lookalike", email: "johnxdoe@search.test" });
    const pct = (await newAccount({ name: "Save 50% Ltd" })).id;
    await newAccount({ name: "Save 50 Pence" });
    const ids = async (q: string) => (await call(`/admin/accounts?q=${encodeURIComponent(q)}`)).json.data.map((a: { id: string }) => a.id);
    expect(await ids("john_doe")).toEqual([under]);
    expect(await ids("50%")).toEqual([pct]);
  });

  test("validation errors are 400 with the field in param", async () => {
    expectEnvelope(await call("/admin/accounts", { body: { name: "" } }), 400, null, "name");
    expectEnvelope(await call("/admin/accounts", { body: { name: "x", email: "not-an-email" } }), 400, null, "email");
    expectEnvelope(await call("/admin/accounts", { body: {} }), 400, null, "name");
    expectEnvelope(await call("/admin/accounts", { body: "{not json" }), 400);
    expectEnvelope(await call("/admin/accounts?limit=0"), 400, null, "limit");
    expectEnvelope(await call("/admin/accounts?limit=abc"), 400, null, "limit");
    const acc = await newAccount();
    expectEnvelope(await call(`/admin/accounts/${acc.id}`, { method: "PATCH", body: { status: "deleted" } }), 400, null, "status");
  });

  test("unknown ids and routes are 404 in the envelope", async () => {
    expectEnvelope(await call("/admin/accounts/acc_nope"), 404, "not_found", "id");
    expectEnvelope(await call("/admin/accounts/acc_nope", { method: "PATCH", body: { name: "x" } }), 404, "not_found", "id");
    expectEnvelope(await call("/admin/accounts/acc_nope/credits", { body: { amount_micros: 5 } }), 404, "not_found", "id");
    expectEnvelope(await call("/admin/accounts/acc_nope/ledger"), 404, "not_found", "id");
    expectEnvelope(await call("/admin/accounts/acc_nope/keys"), 404, "not_found", "id");
    expectEnvelope(await call("/admin/accounts/acc_nope/keys", { body: {} }), 404, "not_found", "id");
    expectEnvelope(await call("/admin/keys/key_nope"), 404, "not_found", "id");
    expectEnvelope(await call("/admin/keys/key_nope/rotate", { body: {} }), 404, "not_found", "id");
    expectEnvelope(await call("/admin/keys/key_nope", { method: "DELETE" }), 404, "not_found", "id");
    expectEnvelope(await call("/admin/no-such-route"), 404, "unknown_url");
    expectEnvelope(await call("/nothing-here", { token: null }), 404, "unknown_url");
  });
});

describe("credits and ledger", () => {
  test("top-up, adjustment, and an adjustment beyond the available credit", async () => {
    const { id } = await newAccount();
    const top = await call(`/admin/accounts/${id}/credits`, { body: { amount_micros: 5 * USD, note: "wire 1" } });
    expect(top.status).toBe(201);
    expect(top.json).toMatchObject({ object: "ledger_entry", kind: "topup", amount_micros: 5 * USD, amount_usd: "5", balance_after_micros: 5 * USD, note: "wire 1" });
    const adj = await call(`/admin/accounts/${id}/credits`, { body: { amount_micros: -1_250_000 } });
    expect(adj.json).toMatchObject({ kind: "adjustment", amount_usd: "-1.25", balance_after_micros: 3_750_000 });

    // A live hold (an in-flight request) keeps its credit out of reach of adjustments.
    s.runtime.deps.credits.reserve({ accountId: id, requestId: "req_live", amount: 3 * USD });
    const acc = await call(`/admin/accounts/${id}`);
    expect(acc.json).toMatchObject({ balance_micros: 3_750_000, held_micros: 3 * USD, available_micros: 750_000, held_usd: "3", available_usd: "0.75" });
    expectEnvelope(await call(`/admin/accounts/${id}/credits`, { body: { amount_micros: -750_001 } }), 400, "insufficient_available_credit", "amount_micros");
    expect((await call(`/admin/accounts/${id}/credits`, { body: { amount_micros: -750_000 } })).status).toBe(201);
    await s.runtime.deps.credits.release("req_live");
    expect((await call(`/admin/accounts/${id}`)).json.available_micros).toBe(3 * USD);
  });

  test("invalid amounts are 400 with param amount_micros", async () => {
    const { id } = await newAccount();
    for (const amount of [0, 1.5, "5", null, 2e15]) {
      expectEnvelope(await call(`/admin/accounts/${id}/credits`, { body: { amount_micros: amount } }), 400, null, "amount_micros");
    }
    expectEnvelope(await call(`/admin/accounts/${id}/credits`, { body: {} }), 400, null, "amount_micros");
  });

  test("Idempotency-Key: same body replays the first result, another body is 409", async () => {
    const { id } = await newAccount();
    const headers = { "idempotency-key": "pay-2030-001" };
    const first = await call(`/admin/accounts/${id}/credits`, { body: { amount_micros: 2 * USD }, headers });
    const again = await call(`/admin/accounts/${id}/credits`, { body: { amount_micros: 2 * USD }, headers });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.json).toEqual(first.json);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const other = await call(`/admin/accounts/${id}/credits`, { body: { amount_micros: 3 * USD }, headers });
    expectEnvelope(other, 409, "idempotency_key_reused");
    expect((await call(`/admin/accounts/${id}`)).json.balance_micros).toBe(2 * USD);
    const ledger = await call(`/admin/accounts/${id}/ledger`);
    expect(ledger.json.data).toHaveLength(1);
  });

  test("the ledger is paged newest first", async () => {
    const { id } = await newAccount();
    for (let i = 1; i <= 5; i++) await call(`/admin/accounts/${id}/credits`, { body: { amount_micros: i } });
    const p1 = await call(`/admin/accounts/${id}/ledger?limit=2`);
    expect(p1.json.object).toBe("list");
    expect(p1.json.has_more).toBe(true);
    expect(p1.json.data.map((e: { amount_micros: number }) => e.amount_micros)).toEqual([5, 4]);
    const p2 = await call(`/admin/accounts/${id}/ledger?limit=2&before=${p1.json.data[1].id}`);
    expect(p2.json.data.map((e: { amount_micros: number }) => e.amount_micros)).toEqual([3, 2]);
    const p3 = await call(`/admin/accounts/${id}/ledger?limit=2&before=${p2.json.data[1].id}`);
    expect(p3.json.data.map((e: { amount_micros: number }) => e.amount_micros)).toEqual([1]);
    expect(p3.json.has_more).toBe(false);
    expectEnvelope(await call(`/admin/accounts/${id}/ledger?limit=501`), 400, null, "limit");
  });
});

describe("keys", () => {
  test("create shows the key once; list and get never show the key or its hash", async () => {
    const { id } = await newAccount();
    const expires = Math.floor(Date.now() / 1000) + 86_400;
    const created = await call(`/admin/accounts/${id}/keys`, {
      body: { name: "prod", models: ["grok-4"], expires_at: expires, spend_cap_micros: 5 * USD },
    });
    expect(created.status).toBe(201);
    const key: string = created.json.key;
    expect(key).toMatch(/^sk-tg-[0-9A-Za-z]{32,}$/);
    expect(created.json).toMatchObject({
      object: "api_key",
      account_id: id,
      name: "prod",
      display: `sk-tg-…${key.slice(-4)}`,
      models: ["grok-4"],
      expires_at: expires,
      spend_cap_micros: 5 * USD,
      spent_micros: 0,
      status: "active",
      revoked_at: null,
      rotated_to: null,
      last_used_at: null,
    });
    const hash = sha256Hex(key);
    const list = await call(`/admin/accounts/${id}/keys`);
    expect(list.json.object).toBe("list");
    expect(list.json.data).toHaveLength(1);
    expect(list.json.data[0].key).toBeUndefined();
    const one = await call(`/admin/keys/${created.json.id}`);
    const audit = await call(`/admin/audit?target_id=${created.json.id}`);
    for (const r of [list, one, audit]) {
      expect(r.text).not.toContain(key);
      expect(r.text).not.toContain(key.slice(6, -4));
      expect(r.text).not.toContain(hash);
    }
    const { key: _k, ...view } = created.json;
    expect(one.json).toEqual(view);
  });

  test("key validation errors name the field", async () => {
    const { id } = await newAccount();
    expectEnvelope(await call(`/admin/accounts/${id}/keys`, { body: { expires_at: 1000 } }), 400, null, "expires_at");
    expectEnvelope(await call(`/admin/accounts/${id}/keys`, { body: { expires_at: "tomorrow" } }), 400, null, "expires_at");
    expectEnvelope(await call(`/admin/accounts/${id}/keys`, { body: { models: [] } }), 400, null, "models");
    expectEnvelope(await call(`/admin/accounts/${id}/keys`, { body: { spend_cap_micros: -1 } }), 400, null, "spend_cap_micros");
    const k = await call(`/admin/accounts/${id}/keys`, { body: {} });
    expectEnvelope(await call(`/admin/keys/${k.json.id}/rotate`, { body: { grace_seconds: -1 } }), 400, null, "grace_seconds");
  });

  test("rotate without a body revokes the old key at once; DELETE revokes on the next request", async () => {
    const { key, keyId } = await s.customer(USD);
    const me = (k: string) => call("/v1/me", { token: k });
    expect((await me(key)).status).toBe(200);
    const rotated = await call(`/admin/keys/${keyId}/rotate`, { method: "POST" });
    expect(rotated.status).toBe(201);
    expect(rotated.json.key).toMatch(/^sk-tg-/);
    expectEnvelope(await me(key), 401, "invalid_api_key");
    expect((await me(rotated.json.key)).status).toBe(200);
    expect((await call(`/admin/keys/${keyId}`)).json).toMatchObject({ status: "revoked", rotated_to: rotated.json.id });
    expectEnvelope(await call(`/admin/keys/${keyId}/rotate`, { body: {} }), 400, "key_inactive");

    const revoked = await call(`/admin/keys/${rotated.json.id}`, { method: "DELETE" });
    expect(revoked.status).toBe(200);
    expect(revoked.json.status).toBe("revoked");
    expectEnvelope(await me(rotated.json.key), 401, "invalid_api_key");
    expect((await call(`/admin/keys/${rotated.json.id}`, { method: "DELETE" })).status).toBe(200);
  });

  test("suspending the account makes its keys 401 on the next request", async () => {
    const { key, accountId } = await s.customer(USD);
    expect((await call("/v1/me", { token: key })).status).toBe(200);
    await call(`/admin/accounts/${accountId}`, { method: "PATCH", body: { status: "suspended" } });
    expectEnvelope(await call("/v1/me", { token: key }), 401, "invalid_api_key");
    await call(`/admin/accounts/${accountId}`, { method: "PATCH", body: { status: "active" } });
    expect((await call("/v1/me", { token: key })).status).toBe(200);
  });
});

describe("audit", () => {
  test("records who changed what, before and after, newest first, filterable and paged", async () => {
    const { id } = await newAccount({ name: "Audited" });
    await call(`/admin/accounts/${id}`, { method: "PATCH", body: { name: "Audited 2" } });
    await call(`/admin/accounts/${id}/credits`, { body: { amount_micros: 7 } });
    const r = await call(`/admin/audit?target_id=${id}`);
    expect(r.json.object).toBe("list");
    expect(r.json.data.map((e: { action: string }) => e.action)).toEqual(["credits.topup", "account.update", "account.create"]);
    const update = r.json.data[1];
    // (checked first: bun's toMatchObject writes the asymmetric matchers into the received object)
    expect(Math.abs(update.created_at - Date.now() / 1000)).toBeLessThan(3600);
    expect(update).toMatchObject({
      actor: "admin",
      target_type: "account",
      target_id: id,
      before: { name: "Audited" },
      after: { name: "Audited 2" },
      created_at: expect.any(Number),
    });
    const p1 = await call(`/admin/audit?target_id=${id}&limit=1`);
    expect(p1.json.has_more).toBe(true);
    const p2 = await call(`/admin/audit?target_id=${id}&limit=5&before=${p1.json.data[0].id}`);
    expect(p2.json.data.map((e: { action: string }) => e.action)).toEqual(["account.update", "account.create"]);
    expect(p2.json.has_more).toBe(false);
  });
});

describe("admin token", () => {
  test("with none configured, the first start generates one, stores only its hash, and reuses it later", async () => {
    const db = freshDb();
    const first = await resolveAdminToken(db, undefined);
    expect(first.generated).toMatch(/^tg-admin-[0-9A-Za-z]{40}$/);
    expect(first.hash).toBe(sha256Hex(first.generated!));
    const stored = db.sqlite.query<{ key: string; value: string }, []>("SELECT key, value FROM settings").all();
    expect(stored).toEqual([{ key: "admin_token_sha256", value: first.hash }]);
    const second = await resolveAdminToken(db, undefined);
    expect(second).toEqual({ hash: first.hash });
    // A configured token wins over the stored one.
    expect(await resolveAdminToken(db, "configured-token-123456")).toEqual({ hash: sha256Hex("configured-token-123456") });
  });

  test("end to end on a fresh database file: print once, works over HTTP, survives a restart", async () => {
    const dir = mkdtempSync("/tmp/tollgate-admin-");
    try {
      // No admin token configured: the first start on a fresh database generates one.
      const g1 = await startGateway({ adminToken: null, dbPath: `${dir}/t.db` });
      const token = g1.runtime.generatedAdminToken!;
      expect(token).toBeDefined();
      const get = (url: string, t: string) => fetch(`${url}/admin/accounts`, { headers: { authorization: `Bearer ${t}` } });
      expect((await get(g1.url, token)).status).toBe(200);
      expect((await get(g1.url, ADMIN_TOKEN)).status).toBe(401);
      await g1.stop();

      const g2 = await startGateway({ adminToken: null, dbPath: `${dir}/t.db` });
      expect(g2.runtime.generatedAdminToken).toBeUndefined();
      expect((await get(g2.url, token)).status).toBe(200);
      await g2.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("two apps in one process keep their own admin tokens", async () => {
    const other = await startGateway({ adminToken: "another-admin-token-987654" });
    try {
      const get = (url: string, t: string) => fetch(`${url}/admin/accounts`, { headers: { authorization: `Bearer ${t}` } });
      expect((await get(other.url, "another-admin-token-987654")).status).toBe(200);
      expect((await get(other.url, ADMIN_TOKEN)).status).toBe(401);
      expect((await get(s.url, ADMIN_TOKEN)).status).toBe(200);
      expect((await get(s.url, "another-admin-token-987654")).status).toBe(401);
    } finally {
      await other.stop();
    }
  });
});

test("rotation grace over HTTP follows the server's clock", async () => {
  const clock = manualClock(Date.now());
  const srv = await startGateway({ now: clock.now });
  const req = (path: string, token: string, body?: unknown) =>
    fetch(srv.url + path, {
      method: body === undefined ? "GET" : "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  try {
    const acc = (await (await req("/admin/accounts", ADMIN_TOKEN, { name: "Clocked" })).json()) as { id: string };
    const old = (await (await req(`/admin/accounts/${acc.id}/keys`, ADMIN_TOKEN, {})).json()) as { id: string; key: string };
    const rotated = await req(`/admin/keys/${old.id}/rotate`, ADMIN_TOKEN, { grace_seconds: 600 });
    expect(rotated.status).toBe(201);
    const fresh = (await rotated.json()) as { key: string };
    clock.advance(599_000);
    expect((await req("/v1/me", old.key)).status).toBe(200);
    expect(((await (await req(`/admin/keys/${old.id}`, ADMIN_TOKEN)).json()) as { status: string }).status).toBe("active");
    clock.advance(1_000);
    const expired = await req("/v1/me", old.key);
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as { error: { message: string } }).error.message).toMatch(/expired/);
    expect(((await (await req(`/admin/keys/${old.id}`, ADMIN_TOKEN)).json()) as { status: string }).status).toBe("expired");
    expect((await req("/v1/me", fresh.key)).status).toBe(200);
  } finally {
    await srv.stop();
  }
});

describe("error rendering", () => {
  test("a body over max_body_bytes is 413 in the envelope, with x-request-id", async () => {
    const small = await startGateway({ config: { max_body_bytes: 4096 } });
    try {
      const res = await fetch(`${small.url}/admin/accounts`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "x".repeat(5000) }),
      });
      seen.push({ what: "413", res });
      expect(res.status).toBe(413);
      expect(res.headers.get("content-type")).toStartWith("application/json");
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("request_too_large");
      const ok = await fetch(`${small.url}/admin/accounts`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "x".repeat(100) }),
      });
      expect(ok.status).toBe(201);
    } finally {
      await small.stop();
    }
  });

  test("our own response failing its schema is a 500, never blamed on the client; set headers survive errors", async () => {
    const { Elysia } = await import("elysia");
    const { z } = await import("zod");
    const { errorHandler } = await import("../src/runtime/plugins/errors");
    const { requestId } = await import("../src/runtime/plugins/request-id");
    const { errors } = await import("../src/lib/errors");
    const app = new Elysia()
      .use(requestId)
      .use(errorHandler)
      .get("/bad", () => ({ n: "not a number" }) as unknown as { n: number }, { response: z.object({ n: z.number() }) })
      .get("/boom", () => {
        throw new Error("kaboom");
      })
      .get("/quota", ({ set }) => {
        set.headers["x-ratelimit-remaining-requests"] = "9";
        set.headers["content-type"] = "text/event-stream";
        throw errors.insufficientQuota();
      });
    const originalError = console.error;
    console.error = () => {};
    try {
      for (const path of ["/bad", "/boom"]) {
        const res = await app.handle(new Request(`http://localhost${path}`));
        expect(res.status).toBe(500);
        expect(res.headers.get("x-request-id")).toStartWith("req_");
        expect(((await res.json()) as { error: { type: string } }).error.type).toBe("server_error");
      }
    } finally {
      console.error = originalError;
    }
    const quota = await app.handle(new Request("http://localhost/quota"));
    expect(quota.status).toBe(402);
    expect(quota.headers.get("x-ratelimit-remaining-requests")).toBe("9");
    expect(quota.headers.get("x-should-retry")).toBe("false");
    expect(quota.headers.get("content-type")).toStartWith("application/json");
  });
});

test("every response in this file carried an x-request-id", () => {
  expect(seen.length).toBeGreaterThan(50);
  const ids = new Set<string>();
  for (const { what, res } of seen) {
    const id = res.headers.get("x-request-id");
    if (!id?.startsWith("req_")) throw new Error(`${what} (${res.status}) has no x-request-id`);
    ids.add(id);
  }
  expect(ids.size).toBe(seen.length);
});
