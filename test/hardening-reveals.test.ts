/**
 * The dashboard's one-shot secrets at rest: between the form's POST and the page that shows it, a
 * new key, an invite link or a batch of codes waits in the database (web_reveals), sealed under a
 * key only the session's cookie gives. A copy of the database shows none of them; the row goes
 * when the page reads it, or after ten minutes; another session's cookie cannot open it. And none
 * is lost: a secret waits for its own page only (an account's invite link for that account's
 * page), and several made before the page loads (two tabs) are all kept and all shown.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sha256Hex } from "../src/lib/crypto";
import { Reveals, unseal } from "../src/identity/reveals";
import { startGateway, TestClock, type Gateway } from "./support/gateway";
import { csrfOf, WebClient } from "./support/web-client";

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ clock: new TestClock() });
});
afterAll(() => gw.stop());

type Row = { id_hash: string; sealed: string; expires_at: number };
const rows = () => gw.runtime.deps.store.sqlite.query<Row, []>("SELECT id_hash, sealed, expires_at FROM web_reveals").all();
const sessionHashes = () => gw.runtime.deps.store.sqlite.query<{ id_hash: string }, []>("SELECT id_hash FROM web_sessions").all().map((r) => r.id_hash);

/** A browser signed in to the portal (the account's owner) or the console. */
async function signedIn(kind: "customer" | "admin", accountId: string | null): Promise<{ w: WebClient; token: string }> {
  const token = await gw.session(kind, accountId);
  const w = new WebClient(gw.url);
  w.cookies.set(kind === "customer" ? "tg_portal" : "tg_console", token);
  return { w, token };
}

/** Every way the secret could show in a stored text: as is, its JSON, and base64 of either. */
const forms = (s: string) => [s, JSON.stringify(s), Buffer.from(s).toString("base64"), Buffer.from(JSON.stringify(s)).toString("base64")];

describe("one-shot secrets in the database", () => {
  test("a new key waits sealed: no trace of it in the row, which the next page takes", async () => {
    const c = await gw.customer(1_000_000);
    const { w, token } = await signedIn("customer", c.accountId);
    const res = await w.submit("/portal/keys", "/portal/keys", { name: "Billing service" });
    expect(res.status).toBe(303);
    const [row, ...more] = rows();
    expect(more).toEqual([]);
    // The row's id is not the session's (whose hash the database holds), so neither leads to the other.
    expect(sessionHashes()).not.toContain(row!.id_hash);
    expect(row!.id_hash).not.toBe(sha256Hex(token));
    expect(row!.expires_at).toBe(gw.clock.now() + 10 * 60_000);

    const html = (await w.page("/portal/keys")).html;
    const key = /<code id="new-key">([^<]+)<\/code>/.exec(html)![1]!;
    expect(key).toStartWith("sk-tg-");
    for (const f of [...forms(key), ...forms(key.slice(6)), "sk-tg-", "Billing service"]) expect(row!.sealed).not.toContain(f);
    // Another session's cookie cannot open it.
    const other = await signedIn("customer", c.accountId);
    expect(unseal(other.token, "key", row!.sealed)).toBeNull();
    expect(rows()).toEqual([]);
    expect((await w.page("/portal/keys")).html).not.toContain('id="new-key"');
  });

  test("an invite link and 1,000 codes wait sealed too", async () => {
    const c = await gw.customer(0);
    const { w } = await signedIn("admin", null);
    const page = `/console/accounts/${c.accountId}`;
    expect((await w.submit(page, `${page}/invite`, {})).status).toBe(303);
    expect((await w.submit("/console/codes", "/console/codes", { count: "1000", amount_usd: "1" })).status).toBe(303);
    const stored = rows();
    expect(stored.length).toBe(2);
    for (const r of stored) for (const f of ["/portal/invite/", "TG-", "invite", "codes"]) expect(r.sealed).not.toContain(f);

    const link = /<code id="invite-url">([^<]+)<\/code>/.exec((await w.page(page)).html)![1]!;
    const token = link.split("/").at(-1)!;
    const codes = /<textarea id="new-codes"[^>]*>([^<]*)<\/textarea>/.exec((await w.page("/console/codes")).html)![1]!.split("\n");
    expect(codes.length).toBe(1000);
    for (const r of stored) for (const f of [...forms(token), ...forms(codes[0]!), ...forms(codes[999]!)]) expect(r.sealed).not.toContain(f);
    expect(rows()).toEqual([]);
  });

  test("a reveal not shown within ten minutes is gone, and swept from the table", async () => {
    const c = await gw.customer(1_000_000);
    const { w } = await signedIn("customer", c.accountId);
    expect((await w.submit("/portal/keys", "/portal/keys", { name: "late" })).status).toBe(303);
    gw.clock.add(10 * 60_000 + 1);
    expect((await w.page("/portal/keys")).html).not.toContain('id="new-key"');
    // A reveal left behind by a session that never came back is deleted by the next one written.
    const reveals = new Reveals<string>(gw.runtime.deps.store, "key", gw.clock.now);
    await reveals.put("abandoned-session", "x");
    gw.clock.add(10 * 60_000 + 1);
    await reveals.put("another-session", "y");
    expect(rows().length).toBe(1);
    expect(await reveals.take("another-session")).toEqual(["y"]);
    expect(await reveals.take("another-session")).toEqual([]);
  });
});

/** Every secret of a kind on a page (`new-key`, `new-key-2`, ...), in the page's order. */
const secretsOf = (html: string, id: string) => [...html.matchAll(new RegExp(`<code id="${id}(?:-\\d+)?">([^<]+)</code>`, "g"))].map((m) => m[1]!);

describe("a one-shot secret always reaches its page", () => {
  test("an account's invite link waits for that account's page: another account's page leaves it", async () => {
    const a = await gw.customer(0);
    const b = await gw.customer(0);
    const { w } = await signedIn("admin", null);
    // Tab 1: "Create invite link" on A, its redirect not loaded yet; tab 2 opens B's page.
    expect((await w.submit(`/console/accounts/${a.accountId}`, `/console/accounts/${a.accountId}/invite`, {})).status).toBe(303);
    expect((await w.page(`/console/accounts/${b.accountId}`)).html).not.toContain('id="invite-url"');
    // A's link is valid and shown only here: the page the redirect goes to must still show it.
    const onPage = (await w.page(`/console/accounts/${a.accountId}`)).html;
    expect(onPage).toContain('id="invite-url"');
    expect(secretsOf(onPage, "invite-url")[0]).toContain("/portal/invite/");
    expect((await w.page(`/console/accounts/${a.accountId}`)).html).not.toContain('id="invite-url"');
    // Links for A and B pending at once: each page shows its own.
    expect((await w.submit(`/console/accounts/${a.accountId}`, `/console/accounts/${a.accountId}/invite`, {})).status).toBe(303);
    expect((await w.submit(`/console/accounts/${b.accountId}`, `/console/accounts/${b.accountId}/invite`, {})).status).toBe(303);
    const onB = secretsOf((await w.page(`/console/accounts/${b.accountId}`)).html, "invite-url");
    const onA = secretsOf((await w.page(`/console/accounts/${a.accountId}`)).html, "invite-url");
    expect(onA.length).toBe(1);
    expect(onB.length).toBe(1);
    expect(onA[0]).not.toBe(onB[0]);
    expect(rows()).toEqual([]);
  });

  test("two keys created in two tabs before either page loads are both shown, once, and both work", async () => {
    const c = await gw.customer(1_000_000);
    const { w } = await signedIn("customer", c.accountId);
    // Both tabs show the form; each posts it before either redirect loads.
    const _csrf = csrfOf((await w.page("/portal/keys")).html);
    expect((await w.post("/portal/keys", { _csrf, name: "tab one" })).status).toBe(303);
    expect((await w.post("/portal/keys", { _csrf, name: "tab two" })).status).toBe(303);
    const html = (await w.page("/portal/keys")).html;
    const keys = secretsOf(html, "new-key");
    expect(keys.length).toBe(2);
    // Oldest first, each with its name, and each box with its own id for its copy button.
    expect(html.indexOf("tab one")).toBeLessThan(html.indexOf("tab two"));
    expect(html).toContain('data-copy="#new-key-2"');
    for (const key of keys) expect((await gw.me(key)).status).toBe(200);
    expect(secretsOf((await w.page("/portal/keys")).html, "new-key")).toEqual([]);
  });

  test("two batches of codes and two members' invite links made at once are all shown", async () => {
    const { w: op } = await signedIn("admin", null);
    const opCsrf = csrfOf((await op.page("/console/codes")).html);
    expect((await op.post("/console/codes", { _csrf: opCsrf, count: "2", amount_usd: "1" })).status).toBe(303);
    expect((await op.post("/console/codes", { _csrf: opCsrf, count: "3", amount_usd: "2" })).status).toBe(303);
    const codes = (await op.page("/console/codes")).html;
    const batches = [...codes.matchAll(/<textarea id="new-codes(?:-\d+)?"[^>]*>([^<]*)<\/textarea>/g)].map((m) => m[1]!.split("\n").length);
    expect(batches).toEqual([2, 3]);

    const c = await gw.customer(0);
    const { w } = await signedIn("customer", c.accountId);
    const _csrf = csrfOf((await w.page("/portal/members")).html);
    for (const email of ["one@example.com", "two@example.com"]) expect((await w.post("/portal/members", { _csrf, email, role: "member" })).status).toBe(303);
    const html = (await w.page("/portal/members")).html;
    expect(secretsOf(html, "invite-url").length).toBe(2);
    expect(html).toContain("Invite link for one@example.com");
    expect(html).toContain("Invite link for two@example.com");
    expect(rows()).toEqual([]);
  });
});
