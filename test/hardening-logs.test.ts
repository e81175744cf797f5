/**
 * The operator sees what happens: one log line per request (JSON by default, text, or off), one
 * per upstream failure, breaker transition and start-up warning; never a key, a token or a prompt.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chat, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { ADMIN_TOKEN, startBinaryGateway } from "./support/gateway";

setDefaultTimeout(60_000);

let upstream: MockUpstream;
beforeAll(() => {
  upstream = startFakeUpstream();
});
afterAll(async () => {
  await upstream.stop();
});

type Line = Record<string, unknown> & { time: string; level: string; msg: string };
const jsonLines = (out: string): Line[] => out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Line);

describe("the operator's log", () => {
  test("JSON: one line per request with its id, account, key, model, upstream, status, tokens and charge; upstream failures and breaker openings; nothing secret", async () => {
    const catalogue = fakeCatalogue(upstream.url);
    const gw = await startBinaryGateway({
      dbPath: "t.db",
      config: { ...catalogue, retry: { max_attempts: 1 }, breaker: { failures: 2, min_accounts: 1, cooldown_ms: 60_000 } },
    });
    try {
      const c = await gw.customer(10_000_000);
      const broke = await gw.customer(0);
      const secret = "PROMPT-TEXT-THAT-MUST-NOT-BE-LOGGED";
      const ids: Record<string, string> = {};
      const send = async (name: string, key: string, body: Record<string, unknown>) => {
        const res = await chat(gw.url, key, body);
        ids[name] = res.headers.get("x-request-id")!;
        await res.text();
        return res.status;
      };
      expect(await send("ok", c.key, { model: "grok-4", messages: user(secret), max_tokens: 20, mock: { completion_tokens: 7, prompt_tokens: 11 } })).toBe(200);
      expect(await send("stream", c.key, { model: "grok-4", messages: user(secret), stream: true, max_tokens: 20 })).toBe(200);
      expect(await send("badkey", "sk-tg-not-a-real-key-0000", { model: "grok-4", messages: user(secret) })).toBe(401);
      expect(await send("broke", broke.key, { model: "grok-4", messages: user(secret) })).toBe(402);
      expect(await send("fail1", c.key, { model: "grok-4", messages: user(secret), max_tokens: 5, mock: { status: 500 } })).toBe(502);
      expect(await send("fail2", c.key, { model: "grok-4", messages: user(secret), max_tokens: 5, mock: { status: 500 } })).toBe(502);
      const admin = await gw.admin(`/admin/accounts/${c.accountId}`);
      expect(admin.status).toBe(200);
      ids.admin = admin.headers.get("x-request-id")!;
      const inviteToken = "tok-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
      const invite = await fetch(`${gw.url}/portal/invite/${inviteToken}`);
      await invite.text();
      ids.invite = invite.headers.get("x-request-id")!;
      await Bun.sleep(200);

      const out = gw.output();
      const lines = jsonLines(out);
      const requests = lines.filter((l) => l.msg === "request");
      for (const [name, id] of Object.entries(ids)) {
        expect(requests.filter((l) => l.request_id === id).length, `one line for ${name}`).toBe(1);
      }
      const ok = requests.find((l) => l.request_id === ids.ok)!;
      expect(ok).toMatchObject({
        level: "info",
        account: c.accountId,
        key_id: c.keyId,
        endpoint: "chat.completions",
        model: "grok-4",
        upstream: "fake#1/grok-4-0709",
        attempts: 1,
        status: 200,
        prompt_tokens: 11,
        completion_tokens: 7,
        charge_micros: 11 * 3 + 7 * 15,
      });
      expect(typeof ok.duration_ms).toBe("number");
      expect(requests.find((l) => l.request_id === ids.stream)).toMatchObject({ stream: true, status: 200 });
      expect(requests.find((l) => l.request_id === ids.badkey)).toMatchObject({ status: 401, error_code: "invalid_api_key", account: null });
      expect(requests.find((l) => l.request_id === ids.broke)).toMatchObject({ status: 402, account: broke.accountId });
      expect(requests.find((l) => l.request_id === ids.admin)).toMatchObject({ method: "GET", status: 200 });
      expect(requests.find((l) => l.request_id === ids.invite)).toMatchObject({ method: "GET", path: "/portal/invite/[token]" });
      const failures = lines.filter((l) => l.msg === "upstream_failure");
      expect(failures.map((l) => l.request_id)).toEqual([ids.fail1, ids.fail2]);
      expect(failures[0]).toMatchObject({ level: "warn", upstream: "fake#1", status: 500, code: "upstream_error" });
      expect(lines.filter((l) => l.msg === "breaker")).toEqual([expect.objectContaining({ upstream: "fake#1", from: "closed", to: "open", level: "warn" })]);
      for (const forbidden of [secret, c.key, broke.key, "sk-tg-not-a-real-key-0000", ADMIN_TOKEN, "upstream-secret-key-123", inviteToken]) {
        expect(out).not.toContain(forbidden);
      }
    } finally {
      await gw.stop();
    }
  });

  test("start-up warnings: a provider without an upstream key, a webhook secret that is not one", async () => {
    const gw = await startBinaryGateway({
      dbPath: "t.db",
      config: {
        providers: [{ id: "nokey", base_url: upstream.url }],
        models: [{ id: "m", provider: "nokey", input_price: 1, output_price: 1 }],
        stripe_secret_key: "sk_test_0000000000000000",
        stripe_webhook_secret: "not-a-whsec-secret",
      },
    });
    try {
      const warnings = jsonLines(gw.output()).filter((l) => l.msg === "warning");
      expect(warnings.map((w) => w.message)).toEqual([
        expect.stringContaining("provider nokey has no upstream API key"),
        expect.stringContaining("stripe_webhook_secret does not look like"),
        expect.stringContaining("test-mode key"),
      ]);
      expect(gw.output()).not.toContain("not-a-whsec-secret");
      expect(gw.output()).not.toContain("sk_test_0000000000000000");
    } finally {
      await gw.stop();
    }
  });

  test("log_format text writes the same fields as key=value; off writes nothing but the start and stop lines", async () => {
    const text = await startBinaryGateway({ dbPath: "t.db", config: { ...fakeCatalogue(upstream.url), log_format: "text" } });
    try {
      const c = await text.customer(1_000_000);
      const res = await chat(text.url, c.key, { model: "grok-4", messages: user(), max_tokens: 5 });
      const id = res.headers.get("x-request-id")!;
      await res.text();
      await Bun.sleep(200);
      const line = text.output().split("\n").find((l) => l.includes(`request_id=${id}`))!;
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO request /);
      expect(line).toContain(`account=${c.accountId}`);
      expect(line).toContain("status=200");
    } finally {
      await text.stop();
    }
    const off = await startBinaryGateway({ dbPath: "t.db", config: { ...fakeCatalogue(upstream.url), log_format: "off" } });
    try {
      const c = await off.customer(1_000_000);
      await (await chat(off.url, c.key, { model: "grok-4", messages: user(), max_tokens: 5 })).text();
      await Bun.sleep(200);
      expect(off.output()).not.toContain("request_id");
    } finally {
      await off.stop();
    }
  });
});

describe("alert deliveries that fail are logged, without the webhook's path or query", () => {
  test("one line per failed attempt, the URL cut to its origin", async () => {
    const { AlertNotifier } = await import("../src/modules/alerts/notifier");
    const { createLog } = await import("../src/lib/log");
    const { loadConfig } = await import("../src/config/load");
    const { SqliteStore: Store } = await import("../src/store/sqlite-store");
    const store = new Store(":memory:");
    store.migrate();
    const config = loadConfig({ overrides: { alert_webhook_url: "https://hooks.example.com/secret-path?token=SECRET123", alert_webhook_secret: "s".repeat(32) } });
    let out = "";
    const log = createLog("json", (t) => void (out += t));
    const failing = (async () => {
      throw new Error("connect ECONNREFUSED https://hooks.example.com/secret-path?token=SECRET123");
    }) as unknown as typeof fetch;
    const notifier = new AlertNotifier(store, config, { fetch: failing, retryDelaysMs: [], log });
    store.sqlite.query("INSERT INTO accounts (id, name, balance_micros, created_at) VALUES ('acc_a', 'A', 0, 0)").run();
    const id = "alr_1";
    store.sqlite
      .query("INSERT INTO alert_events (id, account_id, kind, available_micros, threshold_micros, webhook_status, email_status, attempts, created_at) VALUES (?, 'acc_a', 'low_balance', 0, 1, 'pending', 'skipped', 0, 0)")
      .run(id);
    notifier.enqueue(id);
    await notifier.idle();
    log.flush();
    const lines = jsonLines(out).filter((l) => l.msg === "alert_delivery_failed");
    expect(lines.length).toBe(1);
    expect(lines[0]).toMatchObject({ level: "error", alert_id: id, retrying: false });
    expect(out).not.toContain("SECRET123");
    expect(out).not.toContain("secret-path");
    expect(out).toContain("https://hooks.example.com/");
    notifier.stop();
    store.close();
  });
});
