import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load";
import { listAudit } from "../src/modules/audit/service";
import { AlertNotifier } from "../src/modules/alerts/notifier";
import { AlertService } from "../src/modules/alerts/service";
import { signPayload, verifySignature } from "../src/modules/alerts/signature";
import { buildRuntime } from "../src/runtime/server";
import { SqliteStore } from "../src/store/sqlite-store";
import { chat, until, user } from "./support/chat";
import { ADMIN_TOKEN, startGateway, type Gateway } from "./support/gateway";
import { startSmtp } from "./support/smtp";

const USD = 1_000_000;
const SECRET = "alert-signing-secret-0123456789";

interface Hook {
  body: string;
  headers: Record<string, string>;
}

/** A receiver for alert webhooks; answers 500 to the first `failFirst` deliveries. */
function startReceiver() {
  const hooks: Hook[] = [];
  let failFirst = 0;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      hooks.push({ body: await req.text(), headers: Object.fromEntries(req.headers) });
      if (failFirst > 0) {
        failFirst--;
        return new Response("nope", { status: 500 });
      }
      return new Response("ok");
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/hook`,
    hooks,
    fail(n: number) {
      failFirst = n;
    },
    stop: () => server.stop(true),
  };
}



let receiver: ReturnType<typeof startReceiver>;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let gw: Gateway;

beforeAll(async () => {
  receiver = startReceiver();
  smtp = await startSmtp();
  gw = await startGateway({
    config: {
      low_balance_threshold_usd: "5",
      alert_webhook_url: receiver.url,
      alert_webhook_secret: SECRET,
      smtp_host: "127.0.0.1",
      smtp_port: smtp.port,
      smtp_from: "alerts@gw.example.com",
      alert_email_to: "ops@gw.example.com",
      public_url: "https://gw.example.com",
      // Threshold changes re-arm at once here; the refire interval: test/hardening-alerts.test.ts.
      alert_refire_seconds: 0,
    },
  });
});
afterAll(async () => {
  await gw.stop();
  await receiver.stop();
  await smtp.stop();
});

/** A customer named "Alert customer" with `email` (none when null). */
async function alertCustomer(server: Gateway, credits: number, email: string | null = "buyer@example.com") {
  const c = await server.customer(credits, {}, { name: "Alert customer", ...(email ? { email } : {}) });
  return { id: c.accountId, key: c.key };
}

let seq = 0;
/** Charges `amount` through the gateway's credit store (as the proxy does), then lets alerts settle. */
async function spend(server: Gateway, accountId: string, amount: number) {
  const requestId = `req_alert_${++seq}`;
  server.runtime.deps.credits.reserve({ accountId, requestId, amount });
  await server.runtime.deps.credits.settle(requestId, amount);
}
const settled = (server: Gateway) => server.runtime.deps.alerts!.settled();
const hooksFor = (accountId: string) => receiver.hooks.filter((h) => JSON.parse(h.body).data.account_id === accountId);
const mailsFor = (email: string) => smtp.mails.filter((m) => m.to.includes(email));

describe("low-balance alerts", () => {
  test("fire once per crossing below the threshold, by signed webhook and email; crossing back above re-arms", async () => {
    const acc = await alertCustomer(gw, 10 * USD, "crossing@example.com");
    await spend(gw, acc.id, 3 * USD); // 7 left: above 5
    await settled(gw);
    expect(hooksFor(acc.id)).toHaveLength(0);

    await spend(gw, acc.id, 3 * USD); // 4 left: crosses below
    await settled(gw);
    expect(hooksFor(acc.id)).toHaveLength(1);

    // Further spending below the threshold, some of it concurrent, does not alert again.
    await spend(gw, acc.id, 1 * USD);
    await Promise.all([1, 2, 3, 4, 5].map(() => spend(gw, acc.id, 100_000)));
    await settled(gw);
    expect(hooksFor(acc.id)).toHaveLength(1);

    const hook = hooksFor(acc.id)[0]!;
    expect(hook.headers["x-tollgate-event"]).toBe("account.low_balance");
    expect(verifySignature(SECRET, hook.body, hook.headers["x-tollgate-signature"]!, Math.floor(Date.now() / 1000))).toBe(true);
    expect(verifySignature("another-secret-0123456789", hook.body, hook.headers["x-tollgate-signature"]!, Math.floor(Date.now() / 1000))).toBe(false);
    expect(JSON.parse(hook.body)).toMatchObject({
      type: "account.low_balance",
      id: hook.headers["x-tollgate-delivery"],
      data: { account_id: acc.id, account_name: "Alert customer", available_micros: 4 * USD, available_usd: "4", threshold_micros: 5 * USD },
    });
    const mails = mailsFor("crossing@example.com");
    expect(mails).toHaveLength(1);
    expect(mails[0]!.to).toEqual(["crossing@example.com", "ops@gw.example.com"]);
    expect(mails[0]!.from).toBe("alerts@gw.example.com");
    expect(mails[0]!.data).toContain("Subject: Low balance: 4 USD of API credit left");
    expect(mails[0]!.data.replace(/=\r\n/g, "")).toContain("Add credits: https://gw.example.com/portal/billing");

    // Back above (a top-up, observed by the next settlement), then below again: a second alert.
    await gw.admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: 10 * USD } }); // 12.5
    await spend(gw, acc.id, 500_000); // 12: re-armed
    await settled(gw);
    expect(hooksFor(acc.id)).toHaveLength(1);
    await spend(gw, acc.id, 8 * USD); // 4: second crossing
    await settled(gw);
    expect(hooksFor(acc.id)).toHaveLength(2);

    // A top-up that no check observed still re-arms: one big charge crossing below fires again.
    await gw.admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: 10 * USD } }); // 14
    await spend(gw, acc.id, 10 * USD); // 4
    await settled(gw);
    expect(hooksFor(acc.id)).toHaveLength(3);
    expect(mailsFor("crossing@example.com")).toHaveLength(3);

    const key = acc.key;
    const view = (await (await fetch(gw.url + "/v1/alerts/low-balance", { headers: { authorization: `Bearer ${key}` } })).json()) as {
      armed: boolean;
      threshold_micros: number;
      source: string;
      channels: unknown;
      recent: { webhook_status: string; email_status: string; available_micros: number }[];
    };
    expect(view).toMatchObject({ armed: false, threshold_micros: 5 * USD, source: "default", channels: { webhook: true, email: true } });
    expect(view.recent).toHaveLength(3);
    expect(view.recent.every((e) => e.webhook_status === "sent" && e.email_status === "sent")).toBe(true);
  });

  test("a chat completion that takes the balance below the threshold fires the alert once", async () => {
    const gateway = await startGateway({
      upstream: true,
      config: {
        low_balance_threshold_usd: "0.999999",
        alert_webhook_url: receiver.url,
        alert_webhook_secret: SECRET,
      },
    });
    try {
      const acc = await alertCustomer(gateway, 1 * USD, null);
      const res = await chat(gateway.url, acc.key, { model: "grok-4", messages: user(), max_tokens: 20 });
      expect(res.status).toBe(200);
      await res.text();
      await settled(gateway);
      expect(await until(() => hooksFor(acc.id).length === 1)).toBe(true);
      const again = await chat(gateway.url, acc.key, { model: "grok-4", messages: user(), max_tokens: 20 });
      await again.text();
      await settled(gateway);
      expect(hooksFor(acc.id)).toHaveLength(1);
      expect(JSON.parse(hooksFor(acc.id)[0]!.body).data.available_micros).toBeLessThan(999_999);
    } finally {
      await gateway.stop();
    }
  });

  test("setting a threshold above the available credit alerts at once; 0 turns it off; null restores the default", async () => {
    const acc = await alertCustomer(gw, 10 * USD, "threshold@example.com");
    const put = (body: unknown) =>
      fetch(gw.url + "/v1/alerts/low-balance", {
        method: "PUT",
        headers: { authorization: `Bearer ${acc.key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const set = await put({ threshold_micros: 20 * USD });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ threshold_micros: 20 * USD, source: "account", armed: false });
    await settled(gw);
    expect(hooksFor(acc.id)).toHaveLength(1);
    expect(JSON.parse(hooksFor(acc.id)[0]!.body).data).toMatchObject({ available_micros: 10 * USD, threshold_micros: 20 * USD });

    expect(await (await put({ threshold_micros: 0 })).json()).toMatchObject({ threshold_micros: 0, threshold_usd: "0", source: "account" });
    await spend(gw, acc.id, 9 * USD);
    await settled(gw);
    expect(hooksFor(acc.id)).toHaveLength(1);
    expect(await (await put({ threshold_micros: null })).json()).toMatchObject({ threshold_micros: 5 * USD, source: "default" });
    await settled(gw);
    expect(hooksFor(acc.id)).toHaveLength(2); // 1 USD left is below the default 5

    const bad = await put({ threshold_micros: -1 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe("threshold_micros");
    const audit = (await listAudit(gw.runtime.deps.store, { limit: 20, targetId: acc.id })).filter((a) => a.action === "alerts.low_balance.update");
    expect(audit.map((a) => (a.after as { threshold_micros: number | null }).threshold_micros)).toEqual([null, 0, 20 * USD]);
    expect(audit[0]!.actor).toStartWith("key:key_");

    // The operator sees and sets the same thing.
    const adminView = await (await gw.admin(`/admin/accounts/${acc.id}/alerts/low-balance`)).json();
    expect(adminView).toMatchObject({ account_id: acc.id, source: "default" });
    const adminSet = await gw.admin(`/admin/accounts/${acc.id}/alerts/low-balance`, { method: "PUT", body: { threshold_micros: 0 } });
    expect(await adminSet.json()).toMatchObject({ threshold_micros: 0 });
    expect((await gw.admin("/admin/accounts/acc_nope/alerts/low-balance")).status).toBe(404);
  });

  test("failed webhook deliveries are retried with backoff, then given up and recorded", async () => {
    const { store: db } = gw.runtime.deps;
    const config = gw.config;
    const acc = await alertCustomer(gw, 1 * USD, null);
    const alerts = new AlertService(db, config, (id) => gw.runtime.deps.credits.balance(id), new AlertNotifier(db, config, { retryDelaysMs: [1, 1, 1] }));
    receiver.fail(2);
    const id = (await alerts.check(acc.id))!;
    expect(id).toStartWith("alr_");
    const statusOf = (eventId: string) =>
      db.sqlite.query<{ webhook_status: string; email_status: string; attempts: number; last_error: string | null }, [string]>(
        "SELECT webhook_status, email_status, attempts, last_error FROM alert_events WHERE id = ?",
      ).get(eventId)!;
    expect(await until(() => statusOf(id).webhook_status !== "pending", 10_000)).toBe(true);
    // No account email, but the operator's copy address still gets the email (once).
    expect(statusOf(id)).toEqual({ webhook_status: "sent", email_status: "sent", attempts: 3, last_error: null });
    expect(smtp.mails.filter((m) => m.data.includes(id))).toHaveLength(1);
    const deliveries = receiver.hooks.filter((h) => h.headers["x-tollgate-delivery"] === id);
    expect(deliveries).toHaveLength(3);

    // Never answering 2xx: after the last retry the channel is marked failed.
    await gw.admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: 10 * USD } });
    await alerts.check(acc.id); // re-arms
    await spend(gw, acc.id, 10 * USD);
    receiver.fail(100);
    const id2 = (await alerts.check(acc.id))!;
    expect(id2).toStartWith("alr_");
    expect(await until(() => statusOf(id2).webhook_status !== "pending", 10_000)).toBe(true);
    const row = statusOf(id2);
    expect(row).toMatchObject({ webhook_status: "failed", attempts: 4 });
    expect(row.last_error).toContain("500");
    receiver.fail(0);
    alerts.notifier.stop();
  });

  test("without webhook or SMTP the alert is still recorded (shown in the portal) with skipped channels; threshold 0 means none", async () => {
    const plain = await startGateway({ config: { low_balance_threshold_usd: "5" } });
    const off = await startGateway();
    try {
      const acc = await alertCustomer(plain, 6 * USD);
      await spend(plain, acc.id, 2 * USD);
      await settled(plain);
      const view = (await (await plain.admin(`/admin/accounts/${acc.id}/alerts/low-balance`)).json()) as {
        channels: unknown;
        recent: { webhook_status: string; email_status: string }[];
      };
      expect(view.channels).toEqual({ webhook: false, email: false });
      expect(view.recent.map((e) => [e.webhook_status, e.email_status])).toEqual([["skipped", "skipped"]]);

      const acc2 = await alertCustomer(off, 6 * USD);
      await spend(off, acc2.id, 6 * USD);
      await settled(off);
      const v2 = (await (await off.admin(`/admin/accounts/${acc2.id}/alerts/low-balance`)).json()) as { recent: unknown[]; threshold_micros: number };
      expect(v2).toMatchObject({ threshold_micros: 0, recent: [] });
    } finally {
      await plain.stop();
      await off.stop();
    }
  });

  // The other process is what the CLI is next to `serve` (a second `serve` refuses to start).
  test("two connections on one database (the gateway and another process) fire one alert for one crossing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-alerts-"));
    const config = loadConfig({ overrides: { db_path: join(dir, "a.db"), admin_token: ADMIN_TOKEN, low_balance_threshold_usd: "5" } });
    const a = buildRuntime(config);
    const other = new SqliteStore(config.db_path);
    const rowBalance = (id: string) => other.sqlite.query<{ b: number }, [string]>("SELECT balance_micros b FROM accounts WHERE id = ?").get(id)?.b ?? 0;
    const b = new AlertService(other, config, (id) => ({ balance: rowBalance(id), held: 0, available: rowBalance(id) }), new AlertNotifier(other, config), Date.now);
    try {
      const db = a.deps.store;
      db.sqlite.query("INSERT INTO accounts (id, name, balance_micros, lifetime_topup_micros, created_at) VALUES ('acc_two', 'two', ?, 0, 0)").run(3 * USD);
      const fired = [await a.deps.alerts!.check("acc_two"), await b.check("acc_two"), await a.deps.alerts!.check("acc_two")];
      expect(fired.filter(Boolean)).toHaveLength(1);
      expect(db.sqlite.query<{ n: number }, []>("SELECT count(*) n FROM alert_events").get()!.n).toBe(1);
    } finally {
      a.deps.alerts!.notifier.stop();
      b.notifier.stop();
      a.deps.store.sqlite.close();
      other.sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an alert webhook URL without a signing secret is a config error", () => {
    expect(() => loadConfig({ env: { TOLLGATE_ALERT_WEBHOOK_URL: "https://ops.example/hook" } })).toThrow(/alert_webhook_secret/);
    expect(loadConfig({ env: { TOLLGATE_ALERT_WEBHOOK_URL: "https://ops.example/hook", TOLLGATE_ALERT_WEBHOOK_SECRET: SECRET } }).alert_webhook_url).toBe(
      "https://ops.example/hook",
    );
  });

  test("signatures: fresh and matching only", () => {
    const body = '{"a":1}';
    const now = 1_900_000_000;
    const header = signPayload(SECRET, body, now);
    expect(header).toMatch(/^t=1900000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(SECRET, body, header, now + 10)).toBe(true);
    expect(verifySignature(SECRET, body + " ", header, now)).toBe(false);
    expect(verifySignature(SECRET, body, header, now + 301)).toBe(false);
    expect(verifySignature(SECRET, body, "garbage", now)).toBe(false);
  });

  test("alert routes are in the OpenAPI spec", async () => {
    const spec = (await (await fetch(gw.url + "/openapi.json")).json()) as { paths: Record<string, Record<string, { summary?: string }>> };
    expect(typeof spec.paths["/v1/alerts/low-balance"]?.get?.summary).toBe("string");
    expect(typeof spec.paths["/v1/alerts/low-balance"]?.put?.summary).toBe("string");
    expect(typeof spec.paths["/admin/accounts/{id}/alerts/low-balance"]?.put?.summary).toBe("string");
  });
});
