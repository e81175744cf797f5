import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { openDb } from "../src/db/client";
import { createSession } from "../src/modules/sessions/service";
import { ADMIN_TOKEN } from "./support/server";
import { WebClient } from "./support/web-client";

/*
 * A gateway without Stripe keys, as its own process: in one test process the dashboard's session
 * plugin of the first gateway started is reused by later ones, so a fresh process keeps this
 * independent of which test files ran before.
 */
const dir = mkdtempSync(join(tmpdir(), "tollgate-nopay-"));
const dbPath = join(dir, "t.db");
let child: Subprocess<"ignore", "pipe", "inherit">;
let url = "";

beforeAll(async () => {
  child = Bun.spawn(["bun", "src/index.ts", "serve"], {
    cwd: join(import.meta.dir, ".."),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, PORT: "0", HOST: "127.0.0.1", TOLLGATE_DB: dbPath, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
  });
  let out = "";
  const reader = child.stdout.getReader();
  while (!/listening on (http:\/\/\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the gateway exited: ${out}`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
});
afterAll(async () => {
  child.kill("SIGTERM");
  await child.exited;
  rmSync(dir, { recursive: true, force: true });
});

test("without Stripe the billing page shows only the alert: nothing payment-related, and checkout is 404", async () => {
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
  const acc = (await (await fetch(url + "/admin/accounts", { method: "POST", headers, body: '{"name":"Plain customer"}' })).json()) as { id: string };
  const db = openDb(dbPath);
  const s = createSession(db, { kind: "customer", accountId: acc.id, ttlMs: 3_600_000 });
  db.$client.close();
  const web = new WebClient(url);
  web.cookies.set("tg_portal", s.token);
  const { res, html } = await web.page("/portal/billing");
  expect(res.status).toBe(200);
  expect(html).not.toContain("Buy credits");
  expect(html).not.toContain("Payment history");
  expect(html).not.toContain("Stripe");
  expect(html).toContain("Low-balance alert");
  expect(res.headers.get("content-security-policy")).toContain("form-action 'self';");
  expect((await web.submit("/portal/billing", "/portal/billing/checkout", { amount: "10" })).status).toBe(404);
  const info = await fetch(url + "/v1/billing/checkout", { method: "POST", headers, body: '{"amount":10}' });
  expect(info.status).toBe(401);
});
