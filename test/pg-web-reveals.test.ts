/**
 * The dashboard's one-shot secrets behind a load balancer: two instances on PostgreSQL behind a
 * round-robin proxy without sticky sessions (the README's nginx block). A form's POST and the
 * redirected GET that shows what it made reach different instances, and still a new key, a
 * rotated key's replacement, a member's invite link, an account's invite link and a batch of
 * 1,000 codes are each shown once, by whichever instance serves the GET, and never again; two
 * keys posted from two tabs before either page loads are both shown.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { fakeCatalogue, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { ADMIN_TOKEN, type BinaryGateway } from "./support/gateway";
import { startPgGateways, type PgCluster } from "./support/pg-gateways";
import { csrfOf, WebClient } from "./support/web-client";

setDefaultTimeout(120_000);
const PASSWORD = "correct horse battery staple";
let upstream: MockUpstream;
let cluster: PgCluster;
let a: BinaryGateway;
let lb: ReturnType<typeof Bun.serve>;
let base: string;
const targets: string[] = [];
/** The instance (index in targets) that served each request through the balancer, in order. */
const served: number[] = [];

beforeAll(async () => {
  // Round-robin as nginx's default `upstream` block: each request to the next instance, Host kept.
  let turn = 0;
  lb = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const u = new URL(req.url);
      const i = turn++ % targets.length;
      served.push(i);
      const res = await fetch(targets[i]! + u.pathname + u.search, {
        method: req.method, headers: req.headers, redirect: "manual",
        body: req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer(),
      });
      const out = new Headers(res.headers);
      out.delete("content-encoding");
      out.delete("content-length");
      return new Response(await res.arrayBuffer(), { status: res.status, headers: out });
    },
  });
  base = `http://127.0.0.1:${lb.port}`;
  upstream = startFakeUpstream();
  cluster = await startPgGateways(2, { entry: "source", config: { ...fakeCatalogue(upstream.url), public_url: base, log_format: "off" } });
  for (const g of cluster.gateways) targets.push(g.url);
  a = cluster.gateways[0]!;
});

afterAll(async () => {
  await cluster?.stop();
  await upstream?.stop();
  lb?.stop(true);
});

/** The text of `<code id="…">` on a page (a secret box), or null when the page shows none. */
function secretOf(html: string, id: string): string | null {
  const m = new RegExp(`<code id="${id}">([^<]*)</code>`).exec(html);
  return m ? m[1]!.replaceAll("&amp;", "&") : null;
}

/**
 * Posts a form through the balancer and follows its redirect once: the page that shows the
 * result, which instance took the POST and which served the GET. Then the same page again.
 */
async function postAndShow(w: WebClient, page: string, action: string, form: Record<string, string>) {
  const res = await w.submit(page, action, form);
  expect(res.status).toBe(303);
  const post = served.at(-1)!;
  const shown = (await w.page(res.headers.get("location")!)).html;
  const get = served.at(-1)!;
  const again = (await w.page(res.headers.get("location")!)).html;
  return { shown, again, post, get };
}

/** A portal session of the account's owner, signed in through the balancer with an invite. */
async function owner(accountId: string, email: string): Promise<WebClient> {
  const inv = (await (await a.admin(`/admin/accounts/${accountId}/invite`, { body: { email } })).json()) as { url: string };
  const w = new WebClient(base);
  const path = new URL(inv.url).pathname;
  expect((await w.submit(path, path, { email, password: PASSWORD, confirm: PASSWORD })).status).toBe(303);
  return w;
}

describe("one-shot secrets across two instances", () => {
  test("portal: new keys are shown once whichever instance serves the page, and they work", async () => {
    const c = await a.customer(5_000_000);
    const w = await owner(c.accountId, "keys@example.com");
    const directions = new Set<string>();
    for (const name of ["first", "second", "third"]) {
      const r = await postAndShow(w, "/portal/keys", "/portal/keys", { name });
      expect(r.get).not.toBe(r.post);
      directions.add(`${r.post}->${r.get}`);
      const key = secretOf(r.shown, "new-key");
      expect(key).toStartWith("sk-tg-");
      expect((await a.me(key!)).status).toBe(200);
      expect(secretOf(r.again, "new-key")).toBeNull();
      // One more request turns the balancer, so the next POST lands on the other instance.
      await w.get("/portal");
    }
    expect([...directions].sort()).toEqual(["0->1", "1->0"]);
  });

  test("portal: two keys posted from two tabs, to either instance, are both shown by the next page", async () => {
    const c = await a.customer(5_000_000);
    const w = await owner(c.accountId, "two-tabs@example.com");
    const _csrf = csrfOf((await w.page("/portal/keys")).html);
    expect((await w.post("/portal/keys", { _csrf, name: "tab one" })).status).toBe(303);
    expect((await w.post("/portal/keys", { _csrf, name: "tab two" })).status).toBe(303);
    expect(new Set(served.slice(-2)).size).toBe(2);
    const shown = (await w.page("/portal/keys")).html;
    const keys = [...shown.matchAll(/<code id="new-key(?:-2)?">([^<]+)<\/code>/g)].map((m) => m[1]!);
    expect(keys.length).toBe(2);
    for (const key of keys) expect((await a.me(key)).status).toBe(200);
    expect(secretOf((await w.page("/portal/keys")).html, "new-key")).toBeNull();
  });

  test("portal: rotating a key immediately shows its replacement, which works; the old one does not", async () => {
    const c = await a.customer(5_000_000, { name: "prod" });
    const w = await owner(c.accountId, "rotate@example.com");
    const r = await postAndShow(w, "/portal/keys", `/portal/keys/${c.keyId}/rotate`, { grace_seconds: "0" });
    expect(r.get).not.toBe(r.post);
    const replacement = secretOf(r.shown, "new-key");
    expect(r.shown).toContain("Your replacement key");
    expect((await a.me(c.key)).status).toBe(401);
    expect((await a.me(replacement!)).status).toBe(200);
    expect(secretOf(r.again, "new-key")).toBeNull();
  });

  test("portal: a member's invite link is shown once", async () => {
    const c = await a.customer(1_000_000);
    const w = await owner(c.accountId, "team-owner@example.com");
    const r = await postAndShow(w, "/portal/members", "/portal/members", { email: "new-member@example.com", role: "member" });
    expect(r.get).not.toBe(r.post);
    expect(secretOf(r.shown, "invite-url")).toStartWith(`${base}/portal/invite/`);
    expect(secretOf(r.again, "invite-url")).toBeNull();
  });

  test("console: an account's invite link and a batch of 1,000 codes are shown once", async () => {
    const c = await a.customer(0);
    const op = new WebClient(base);
    expect((await op.submit("/console/login", "/console/login", { token: ADMIN_TOKEN })).status).toBe(303);
    const page = `/console/accounts/${c.accountId}`;
    const inv = await postAndShow(op, page, `${page}/invite`, {});
    expect(inv.get).not.toBe(inv.post);
    expect(secretOf(inv.shown, "invite-url")).toStartWith(`${base}/portal/invite/`);
    expect(secretOf(inv.again, "invite-url")).toBeNull();

    const codes = await postAndShow(op, "/console/codes", "/console/codes", { count: "1000", amount_usd: "1" });
    expect(codes.get).not.toBe(codes.post);
    const text = /<textarea id="new-codes"[^>]*>([^<]*)<\/textarea>/.exec(codes.shown)?.[1] ?? "";
    const list = text.split("\n");
    expect(list.length).toBe(1000);
    expect(new Set(list).size).toBe(1000);
    for (const code of list) expect(code).toMatch(/^TG-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    expect(codes.again).not.toContain('id="new-codes"');
    // The codes shown are the batch's: one of them redeems.
    const redeemed = await fetch(`${a.url}/v1/credits/redeem`, { method: "POST", headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" }, body: JSON.stringify({ code: list[0] }) });
    expect(redeemed.status).toBe(200);
  });
});
