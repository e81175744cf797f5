import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load";
import { buildRuntime } from "../src/runtime/server";
import type { Principal } from "../src/gateway/key-auth";
import { chat, user } from "./support/chat";
import { ADMIN_TOKEN, RATE_LIMITED, startGateway, TestClock, type Gateway } from "./support/gateway";

// Real servers and real sleeps (the SDK honours retry-after) on a shared, noisy machine.
setDefaultTimeout(60_000);

const PLANS = {
  small: { rpm: 60, tpm: 100_000, concurrency: 10 },
  pro: { rpm: 600, tpm: 1_000_000, concurrency: 50 },
  scale: { rpm: 6000, tpm: 10_000_000, concurrency: 200 },
  enterprise: { rpm: 60_000, tpm: 100_000_000, concurrency: 1000 },
};
const TIERS = [
  { min_lifetime_topup_usd: 50, plan: "pro" },
  { min_lifetime_topup_usd: "500", plan: "scale" },
];

const RATE_HEADERS = [
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
];
const rateHeaders = (r: Response) => Object.fromEntries(RATE_HEADERS.map((h) => [h, r.headers.get(h)]));
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe("admin: plans and key limits", () => {
  let g: Gateway;
  beforeAll(async () => {
    g = await startGateway({ ...RATE_LIMITED, clock: new TestClock(), config: { plans: PLANS, default_plan: "small", tiers: TIERS } });
  });
  afterAll(() => g.stop());

  test("GET /admin/plans lists plans and tiers", async () => {
    const r = await g.admin("/admin/plans");
    expect(r.status).toBe(200);
    const body = (await r.json()) as { default_plan: string; data: { name: string }[]; tiers: unknown[] };
    expect(body.default_plan).toBe("small");
    expect(body.data.map((p) => p.name).sort()).toEqual(["enterprise", "pro", "scale", "small"]);
    expect(body.tiers).toEqual([
      { min_lifetime_topup_micros: 50_000_000, plan: "pro" },
      { min_lifetime_topup_micros: 500_000_000, plan: "scale" },
    ]);
  });

  test("read and change an account's plan (audited, applies at the next request)", async () => {
    const c = await g.customer(0);
    const get = await g.admin(`/admin/accounts/${c.accountId}/plan`);
    expect(await get.json()).toEqual({
      object: "account_plan",
      account_id: c.accountId,
      plan: "default", // as created; "default" is not a configured plan here, so default_plan applies
      effective_plan: "small",
      limits: PLANS.small,
      lifetime_topup_micros: 0,
      next_tier: { plan: "pro", min_lifetime_topup_micros: 50_000_000 },
    });
    expect((await g.me(c.key)).headers.get("x-ratelimit-limit-requests")).toBe("60");
    const put = await g.admin(`/admin/accounts/${c.accountId}/plan`, { method: "PUT", body: { plan: "pro" } });
    expect(put.status).toBe(200);
    expect(((await put.json()) as { limits: unknown }).limits).toEqual(PLANS.pro);

    const me = await g.me(c.key);
    expect(me.headers.get("x-ratelimit-limit-requests")).toBe("600");
    expect(((await me.json()) as { limits: { plan: string } }).limits.plan).toBe("pro");

    const audit = (await (await g.admin(`/admin/audit?target_id=${c.accountId}`)).json()) as { data: { action: string; before: unknown; after: unknown }[] };
    const entry = audit.data.find((a) => a.action === "account.plan");
    expect(entry).toMatchObject({ before: { plan: "default" }, after: { plan: "pro" } });
  });

  test("an unknown plan is a 400 naming the field; unknown ids are 404; customer keys are 401", async () => {
    const c = await g.customer(0);
    const bad = await g.admin(`/admin/accounts/${c.accountId}/plan`, { method: "PUT", body: { plan: "platinum" } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string; code: string } }).error).toMatchObject({ param: "plan", code: "unknown_plan" });
    expect((await g.admin("/admin/accounts/acc_nope/plan")).status).toBe(404);
    expect((await g.admin("/admin/keys/key_nope/limits")).status).toBe(404);
    const asCustomer = await fetch(`${g.url}/admin/accounts/${c.accountId}/plan`, { headers: bearer(c.key) });
    expect(asCustomer.status).toBe(401);
  });

  test("an account cannot be created on an unknown plan: the same 400 as moving one there, and no account", async () => {
    const c = await g.customer(0);
    const count = async () => ((await (await g.admin("/admin/accounts?q=Planless")).json()) as { data: unknown[] }).data.length;
    const created = await g.admin("/admin/accounts", { body: { name: "Planless", plan: "platinum" } });
    expect(created.status).toBe(400);
    const moved = await g.admin(`/admin/accounts/${c.accountId}/plan`, { method: "PUT", body: { plan: "platinum" } });
    const error = ((await created.json()) as { error: unknown }).error;
    expect(error).toEqual({
      type: "invalid_request_error", code: "unknown_plan", param: "plan",
      message: 'Unknown plan "platinum"; configured plans: small, pro, scale, enterprise.',
    });
    expect(((await moved.json()) as { error: unknown }).error).toEqual(error);
    expect(await count()).toBe(0);
    const ok = await g.admin("/admin/accounts", { body: { name: "Planless", plan: "pro" } });
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { plan: string }).plan).toBe("pro");
  });

  test("key overrides tighten the key level only, show in headers at once, and can be cleared", async () => {
    const c = await g.customer(0, {}, { plan: "small" });
    // Above the plan's 10 could never apply: refused, as PATCH /admin/keys/:id refuses it.
    const loose = await g.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 5, concurrency: 500 } });
    expect(loose.status).toBe(400);
    expect(((await loose.json()) as { error: { code: string; param: string } }).error).toMatchObject({ code: "limit_above_plan", param: "concurrency" });
    const put = await g.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 5, concurrency: 10 } });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({
      object: "key_limits",
      key_id: c.keyId,
      account_id: c.accountId,
      plan: "small",
      overrides: { rpm: 5, tpm: null, concurrency: 10 },
      effective: { rpm: 5, tpm: 100_000, concurrency: 10 },
    });
    const me = await g.me(c.key);
    expect(me.headers.get("x-ratelimit-limit-requests")).toBe("5");
    const limits = ((await me.json()) as { limits: unknown }).limits;
    expect(limits).toMatchObject({ plan: "small", rpm: 5, tpm: 100_000, concurrency: 10 });

    const bad = await g.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 0 } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe("rpm");

    const cleared = await g.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: {} });
    expect(((await cleared.json()) as { overrides: unknown }).overrides).toEqual({ rpm: null, tpm: null, concurrency: null });
    expect((await g.me(c.key)).headers.get("x-ratelimit-limit-requests")).toBe("60");

    const audit = (await (await g.admin(`/admin/audit?target_id=${c.keyId}`)).json()) as { data: { action: string }[] };
    expect(audit.data.filter((a) => a.action === "key.limits").length).toBe(2);
  });

  test("a rotated key keeps its overrides", async () => {
    const c = await g.customer(0, {}, { plan: "small" });
    await g.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 7 } });
    const rotated = (await (await g.admin(`/admin/keys/${c.keyId}/rotate`, { body: {} })).json()) as { id: string; key: string };
    const limits = (await (await g.admin(`/admin/keys/${rotated.id}/limits`)).json()) as { overrides: { rpm: number | null } };
    expect(limits.overrides.rpm).toBe(7);
    const me = await g.me(rotated.key);
    expect(me.headers.get("x-ratelimit-limit-requests")).toBe("7");
  });

  test("every rate-limit route is in the OpenAPI spec with a summary", async () => {
    const spec = (await (await fetch(`${g.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { summary?: string }>> };
    for (const [path, method] of [
      ["/admin/plans", "get"],
      ["/admin/accounts/{id}/plan", "get"],
      ["/admin/accounts/{id}/plan", "put"],
      ["/admin/keys/{id}/limits", "get"],
      ["/admin/keys/{id}/limits", "put"],
    ] as const) {
      expect(spec.paths[path]?.[method]?.summary).toBeString();
    }
  });
});

describe("usage tiers", () => {
  let g: Gateway;
  beforeAll(async () => {
    g = await startGateway({ ...RATE_LIMITED, clock: new TestClock(), config: { plans: PLANS, tiers: TIERS } });
  });
  afterAll(() => g.stop());

  const plan = async (id: string) => ((await (await g.admin(`/admin/accounts/${id}/plan`)).json()) as { plan: string }).plan;
  const topUp = (id: string, usd: number) => g.admin(`/admin/accounts/${id}/credits`, { body: { amount_micros: usd * 1_000_000 } });

  test("top-ups move an account up by lifetime total, audited; adjustments never move it down", async () => {
    const c = await g.customer(0);
    await topUp(c.accountId, 49);
    expect(await plan(c.accountId)).toBe("default");
    await topUp(c.accountId, 1);
    expect(await plan(c.accountId)).toBe("pro");
    const me = await g.me(c.key);
    expect(me.headers.get("x-ratelimit-limit-requests")).toBe("600");
    await topUp(c.accountId, 450);
    expect(await plan(c.accountId)).toBe("scale");
    await topUp(c.accountId, -400);
    expect(await plan(c.accountId)).toBe("scale");
    const audit = (await (await g.admin(`/admin/audit?target_id=${c.accountId}`)).json()) as { data: { action: string; actor: string; after: { plan: string } }[] };
    const tiers = audit.data.filter((a) => a.action === "account.tier").map((a) => [a.actor, a.after.plan]);
    expect(tiers).toEqual([
      ["system", "scale"],
      ["system", "pro"],
    ]);
  });

  test("an operator-chosen plan outside the tiers is never changed automatically", async () => {
    const c = await g.customer(0, {}, { plan: "enterprise" });
    await topUp(c.accountId, 1000);
    expect(await plan(c.accountId)).toBe("enterprise");
  });
});

describe("tiers configured later are applied at start", () => {
  test("accounts that already qualify are promoted when the gateway starts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-rl-"));
    try {
      const db_path = join(dir, "t.db");
      const first = await startGateway({ ...RATE_LIMITED, clock: new TestClock(), config: { db_path, plans: PLANS } });
      const c = await first.customer(120_000_000);
      await first.stop();
      const runtime = buildRuntime(loadConfig({ overrides: { db_path, admin_token: ADMIN_TOKEN, plans: PLANS, tiers: TIERS } }));
      const row = runtime.deps.store.sqlite.query<{ plan: string }, [string]>("SELECT plan FROM accounts WHERE id = ?").get(c.accountId);
      runtime.deps.store.sqlite.close();
      expect(row?.plan).toBe("pro");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("x-ratelimit-* headers on every /v1 response", () => {
  let g: Gateway;
  let c: { key: string; accountId: string };
  beforeAll(async () => {
    g = await startGateway({ ...RATE_LIMITED, clock: new TestClock(), config: { plans: PLANS, default_plan: "small" } });
    c = await g.customer();
  });
  afterAll(() => g.stop());

  test.each([["/v1/me"], ["/v1/models"], ["/v1/models/grok-4"], ["/v1/usage"]])("GET %s", async (path) => {
    const r = await fetch(g.url + path, { headers: bearer(c.key) });
    expect(r.status).toBe(200);
    for (const [h, v] of Object.entries(rateHeaders(r))) expect(v, h).not.toBeNull();
    expect(r.headers.get("x-ratelimit-limit-requests")).toBe("60");
  });

  test("chat completions, plain and streamed, report the admission (one request and its tokens taken)", async () => {
    const before = ((await (await g.me(c.key)).json()) as { limits: { remaining: { requests: number } } }).limits;
    const plain = await chat(g.url, c.key, { model: "grok-4", messages: user(), max_tokens: 50 });
    expect(plain.status).toBe(200);
    await plain.json();
    expect(Number(plain.headers.get("x-ratelimit-remaining-requests"))).toBe(before.remaining.requests - 1);
    expect(Number(plain.headers.get("x-ratelimit-remaining-tokens"))).toBeLessThanOrEqual(100_000 - 50);
    const streamed = await chat(g.url, c.key, { model: "grok-4", messages: user(), max_tokens: 50, stream: true });
    expect(streamed.status).toBe(200);
    await streamed.text();
    expect(Number(streamed.headers.get("x-ratelimit-remaining-requests"))).toBe(before.remaining.requests - 2);
  });

  test("GET /v1/me shows the limits and what remains", async () => {
    const me = (await (await g.me(c.key)).json()) as { limits: Record<string, unknown> };
    expect(me.limits).toMatchObject({ plan: "small", rpm: 60, tpm: 100_000, concurrency: 10 });
    expect(me.limits.remaining).toMatchObject({ requests: 58, concurrency: 10 });
    expect((me.limits.reset as { requests: string }).requests).toBe("2s"); // two requests at 1/s, clock frozen
  });
});

describe("limits survive a restart", () => {
  const principalOf = (g: Gateway, key: string): Principal => g.runtime.deps.keys.authenticate(key);

  test("a client cannot reset its limits by waiting for a redeploy; a crash forgives at most the last snapshot interval", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-rl-"));
    const clock = new TestClock();
    const over = { db_path: join(dir, "t.db"), plans: PLANS, default_plan: "small" };
    try {
      const first = await startGateway({ ...RATE_LIMITED, clock, config: over });
      const c = await first.customer();
      const admitted = async (g: Gateway, n: number) => {
        let ok = 0;
        for (let i = 0; i < n; i++) {
          const r = await chat(g.url, c.key, { model: "grok-4", messages: user(), max_tokens: 10 });
          await r.text();
          if (r.status === 200) ok++;
        }
        return ok;
      };
      expect(await admitted(first, 60)).toBe(60);
      await first.stop({ keepUpstream: true }); // graceful: snapshots on stop

      const second = await startGateway({ ...RATE_LIMITED, clock, upstream: first.upstream, config: over });
      const r = await chat(second.url, c.key, { model: "grok-4", messages: user(), max_tokens: 10 });
      expect(r.status).toBe(429);
      expect(r.headers.get("retry-after-ms")).toBe("1000");
      expect(r.headers.get("x-ratelimit-remaining-requests")).toBe("0");

      // Time passes for the stored state too: 30 s later 30 requests are back.
      clock.add(30_000);
      expect(second.runtime.deps.limiter.limits(principalOf(second, c.key)).remaining.requests).toBe(30);
      expect(await admitted(second, 10)).toBe(10);
      second.runtime.deps.limiter.persist(); // the periodic snapshot
      expect(await admitted(second, 20)).toBe(20); // not yet snapshotted when the process dies

      // A crash: a new process opens the same database without the old one having stopped (a dead
      // process holds no lock: its journal's is given up here, as the kernel would).
      second.runtime.journal?.close();
      const third = await startGateway({ ...RATE_LIMITED, clock, upstream: first.upstream, config: over });
      expect(third.runtime.deps.limiter.limits(principalOf(third, c.key)).remaining.requests).toBe(20);
      await third.stop({ keepUpstream: true });
      await second.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
