/**
 * Admin request bodies say no rather than guess: an unknown field (a typo, a field of another
 * route) is a 400 naming it, never silently dropped; `expires_at` stays a date the pages can show;
 * names are trimmed, visible and free of control characters; emails are bounded; a key's models
 * are kept once each. Query strings stay lenient (clients add cache-busters).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, startGateway, type Customer, type Gateway } from "./support/gateway";
import { WebClient } from "./support/web-client";
import { join } from "./support/teams";

type Envelope = { error: { message: string; type: string; param: string | null; code: string | null } };

let gw: Gateway;
let c: Customer;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
  c = await gw.customer(1_000_000);
});
afterAll(async () => {
  await gw?.stop();
});

const call = (path: string, method: string, body: unknown) => gw.admin(path, { method, body });

/** Expects a 400 in the API's envelope, with `param` (null for the body as a whole) and text in the message. */
async function expect400(res: Response, param: string | null, message: string | RegExp): Promise<void> {
  expect(res.status).toBe(400);
  const { error } = (await res.json()) as Envelope;
  expect(error.type).toBe("invalid_request_error");
  expect(error.param).toBe(param);
  expect(error.message).toMatch(message);
}

describe("unknown fields in admin bodies", () => {
  test("are a 400 naming them, on every admin body, and nothing changes", async () => {
    const acc = `/admin/accounts/${c.accountId}`;
    const refused: [string, string, Record<string, unknown>, string][] = [
      [acc, "PATCH", { plan: "gold" }, "plan"],
      [`${acc}/keys`, "POST", { name: "k", budgett: 5 }, "budgett"],
      ["/admin/accounts", "POST", { name: "x", emial: "a@b.co" }, "emial"],
      [`${acc}/credits`, "POST", { amount_micros: 1, amount_usd: "5" }, "amount_usd"],
      ["/admin/codes", "POST", { count: 1, amount_micros: 1, foo: 1 }, "foo"],
      [`${acc}/invite`, "POST", { email: "owner@example.com", role: "admin" }, "role"],
      [`${acc}/plan`, "PUT", { plan: "default", tier: 1 }, "tier"],
      [`${acc}/alerts/low-balance`, "PUT", { threshold_micros: 5, threshold_usd: "5" }, "threshold_usd"],
      [`/admin/keys/${c.keyId}/limits`, "PUT", { rpm: 5, rpd: 5 }, "rpd"],
      [`/admin/keys/${c.keyId}/rotate`, "POST", { grace: 60 }, "grace"],
    ];
    for (const [path, method, body, field] of refused) {
      await expect400(await call(path, method, body), field, new RegExp(`Unrecognized key.*"${field}"`));
    }
    // PATCH {plan} points at the route that moves an account to a plan.
    expect(((await (await call(acc, "PATCH", { plan: "gold" })).json()) as Envelope).error.message).toContain("PUT /admin/accounts/:id/plan");
    const after = await gw.account(c.accountId);
    expect(after).toMatchObject({ plan: "default", balance_micros: 1_000_000 });
    expect(((await (await gw.admin(`${acc}/keys`)).json()) as { data: unknown[] }).data).toHaveLength(1);
    expect((await (await gw.admin(`/admin/keys/${c.keyId}`)).json()) as { status: string }).toMatchObject({ status: "active" });
    // Query strings stay lenient, and the same bodies without the stray field pass.
    expect((await gw.admin(`/admin/accounts?limit=5&_=${Date.now()}`)).status).toBe(200);
    expect((await call(acc, "PATCH", { name: "Renamed" })).status).toBe(200);
    expect((await call(`${acc}/credits`, "POST", { amount_micros: 1 })).status).toBe(201);
  });
});

describe("numbers in admin query strings", () => {
  test("are decimal digits: a blank grace_seconds no longer revokes a member's keys at once, nor 1e3 or 0x10 pass", async () => {
    const owner = await gw.customer(0);
    const m = await join(gw, owner.accountId, "member", `query-${crypto.randomUUID().slice(0, 8)}@example.com`);
    expect((await m.w.submit("/portal/keys", "/portal/keys", { name: "member's" })).status).toBe(303);
    const keys = (await (await gw.admin(`/admin/accounts/${owner.accountId}/keys`)).json()) as { data: { id: string; member_id: string | null }[] };
    const key = keys.data.find((k) => k.member_id === m.memberId)!;
    for (const v of ["", "%20", "1e3", "0x10", "5.5"]) {
      await expect400(await gw.admin(`/admin/members/${m.memberId}?grace_seconds=${v}`, { method: "DELETE" }), "grace_seconds", /whole number|expected/i);
    }
    expect((await (await gw.admin(`/admin/keys/${key.id}`)).json()) as { status: string; expires_at: unknown }).toMatchObject({ status: "active", expires_at: null });
    for (const path of ["/admin/accounts?limit=", "/admin/accounts?limit=1e2", "/admin/audit?before=0x10", "/admin/codes?offset=%20"]) {
      expect((await gw.admin(path)).status).toBe(400);
    }
    // Digits still pass, as before.
    expect((await gw.admin("/admin/accounts?limit=2&offset=0")).status).toBe(200);
    const removed = await gw.admin(`/admin/members/${m.memberId}?grace_seconds=60`, { method: "DELETE" });
    expect(removed.status).toBe(200);
    expect(((await removed.json()) as { revoked_keys: string[] }).revoked_keys).toEqual([key.id]);
  });
});

describe("expires_at", () => {
  test("is at most 9999-12-31T23:59:59Z, so that the portal's key pages can always show it", async () => {
    const keys = `/admin/accounts/${c.accountId}/keys`;
    const tooLate = /at most 9999-12-31T23:59:59Z/;
    await expect400(await call(keys, "POST", { expires_at: 9_000_000_000_000 }), "expires_at", tooLate);
    await expect400(await call(keys, "POST", { expires_at: 253_402_300_800 }), "expires_at", tooLate);
    await expect400(await call(keys, "POST", { expires_at: "9999-12-31T23:59:59-05:00" }), "expires_at", tooLate);
    await expect400(await call(`/admin/keys/${c.keyId}`, "PATCH", { expires_at: 9_000_000_000_000 }), "expires_at", tooLate);
    await expect400(await call("/admin/codes", "POST", { count: 1, amount_micros: 1, expires_at: 9_000_000_000_000 }), "expires_at", tooLate);
    // The last second allowed is a key the owner's pages show.
    const last = await call(keys, "POST", { name: "far", expires_at: 253_402_300_799 });
    expect(last.status).toBe(201);
    expect(((await last.json()) as { expires_at: number }).expires_at).toBe(253_402_300_799);
    const { w } = await join(gw, c.accountId, "owner", `owner-${crypto.randomUUID().slice(0, 8)}@example.com`);
    const page = await w.page("/portal/keys");
    expect(page.res.status).toBe(200);
    expect(page.html).toContain("9999-12-31");
    // One an older release let in (beyond JavaScript's dates) shows as no date, never a 500.
    gw.runtime.deps.store.sqlite.query("UPDATE api_keys SET expires_at = 9000000000000000 WHERE account_id = ?").run(c.accountId);
    expect((await w.page("/portal/keys")).res.status).toBe(200);
  });
});

describe("names, emails and models", () => {
  test("names are trimmed, must show something and hold no control characters", async () => {
    const keys = `/admin/accounts/${c.accountId}/keys`;
    await expect400(await call(keys, "POST", { name: "   " }), "name", /blank/);
    await expect400(await call(keys, "POST", { name: "a\tb" }), "name", /control characters/);
    await expect400(await call(`/admin/keys/${c.keyId}`, "PATCH", { name: "\u200b\u200b" }), "name", /blank/);
    await expect400(await call("/admin/accounts", "POST", { name: "\u200b" }), "name", /blank/);
    await expect400(await call("/admin/accounts", "POST", { name: "a\u0000b\nc" }), "name", /control characters/);
    await expect400(await call(`/admin/accounts/${c.accountId}`, "PATCH", { name: "line\u2028break" }), "name", /control characters/);
    // Padding is not part of the name, nor of its length.
    const padded = await call(keys, "POST", { name: `${" ".repeat(10)}${"k".repeat(195)}\n` });
    expect(padded.status).toBe(201);
    expect(((await padded.json()) as { name: string }).name).toBe("k".repeat(195));
    // "" stays the way to have no name.
    expect(((await (await call(keys, "POST", { name: "" })).json()) as { name: string }).name).toBe("");
  });

  test("emails are at most 254 characters; a key's models are kept once each, in order", async () => {
    const long = `${"a".repeat(100_000)}@example.com`;
    await expect400(await call("/admin/accounts", "POST", { name: "Long", email: long }), "email", /254/);
    await expect400(await call(`/admin/accounts/${c.accountId}`, "PATCH", { email: `${"b".repeat(250)}@x.co` }), "email", /254/);
    await expect400(await call(`/admin/accounts/${c.accountId}/invite`, "POST", { email: long }), "email", /254/);
    const made = await call(`/admin/accounts/${c.accountId}/keys`, "POST", { models: ["grok-4", "grok-3", "grok-4"] });
    expect(made.status).toBe(201);
    const key = (await made.json()) as { id: string; models: string[] };
    expect(key.models).toEqual(["grok-4", "grok-3"]);
    const edited = await call(`/admin/keys/${key.id}`, "PATCH", { models: ["grok-3", "grok-3"] });
    expect(((await edited.json()) as { models: string[] }).models).toEqual(["grok-3"]);
  });

  test("the portal's new-key form trims the name before measuring it", async () => {
    const owner = await gw.customer(0);
    const { w } = await join(gw, owner.accountId, "owner", `keys-${crypto.randomUUID().slice(0, 8)}@example.com`);
    const names = async () => ((await (await gw.admin(`/admin/accounts/${owner.accountId}/keys`)).json()) as { data: { name: string }[] }).data.map((k) => k.name);
    expect((await w.submit("/portal/keys", "/portal/keys", { name: `${" ".repeat(10)}${"p".repeat(195)}` })).status).toBe(303);
    expect(await names()).toContain("p".repeat(195));
    // A name with a line break in it is refused with the reason; nothing is made.
    const before = (await names()).length;
    const refused = await w.submit("/portal/keys", "/portal/keys", { name: "two\nlines" });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain("control characters");
    expect(await names()).toHaveLength(before);
  });

  test("the portal's key edit form, the console's new account and a member's invite hold to the same rules", async () => {
    const owner = await gw.customer(0);
    const { w } = await join(gw, owner.accountId, "owner", `edit-${crypto.randomUUID().slice(0, 8)}@example.com`);
    const edit = `/portal/keys/${owner.keyId}/edit`;
    const refused = await w.submit(edit, edit, { name: "tab\there", expires_on: "", spend_cap_usd: "", budget_usd: "", budget_period: "month", rpm: "", tpm: "", concurrency: "" });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain("control characters");
    expect(((await (await gw.admin(`/admin/keys/${owner.keyId}`)).json()) as { name: string }).name).not.toContain("tab");
    const op = new WebClient(gw.url);
    expect((await op.submit("/console/login", "/console/login", { token: ADMIN_TOKEN })).status).toBe(303);
    const accounts = async () => ((await (await gw.admin("/admin/accounts?limit=500")).json()) as { data: unknown[] }).data.length;
    const count = await accounts();
    for (const [name, email, why] of [["\u200b", "", "no visible characters"], ["a\u0000b", "", "control characters"], ["Fine", `${"e".repeat(250)}@x.co`, "valid email"]] as const) {
      const res = await op.submit("/console/accounts", "/console/accounts", { name, email, plan: "", credit_usd: "" });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain(why);
    }
    expect(await accounts()).toBe(count);
    await expect400(await call(`/admin/accounts/${owner.accountId}/members`, "POST", { email: `${"m".repeat(250)}@x.co` }), "email", /254/);
  });
});
