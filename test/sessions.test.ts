import { describe, expect, test } from "bun:test";
import { SqliteStore } from "../src/store/sqlite-store";
import { createAccount } from "../src/modules/accounts/service";
import { acceptInvite, createInvite, findInvite, findLogin, signUp } from "../src/identity/logins/service";
import { endStaleConsoleSessionsSync } from "../src/identity/admin-token";
import { sha256Hex } from "../src/lib/crypto";
import { listAudit } from "../src/modules/audit/service";
import { checkCsrf, createSession, deleteSession, getSession, hashPassword, LoginThrottle, verifyPassword } from "../src/identity/sessions";
import { readCookies, setCookie } from "../src/web/cookies";
import { safeNext } from "../src/web/forms";
import { compact, usd } from "../src/web/format";
import { html, jsonScript, raw } from "../src/web/html";

function db() {
  const d = new SqliteStore(":memory:");
  d.migrate();
  return d;
}

describe("web sessions", () => {
  test("a session is found by its cookie only, for its own kind, until it expires; only its hash is stored", async () => {
    const d = db();
    const acc = (await createAccount(d, { name: "A" }, "test"));
    const s = await createSession(d, { kind: "customer", accountId: acc.id, ttlMs: 60_000 }, 1_000);
    expect(await getSession(d, s.token, "customer", 2_000)).toMatchObject({ accountId: acc.id, csrf: s.csrf });
    expect(await getSession(d, s.token, "admin", 2_000)).toBeNull();
    expect(await getSession(d, s.token, "customer", 61_000)).toBeNull();
    expect(await getSession(d, `${s.token}x`, "customer", 2_000)).toBeNull();
    expect(await getSession(d, undefined, "customer", 2_000)).toBeNull();
    const stored = JSON.stringify(d.sqlite.query("SELECT * FROM web_sessions").all());
    expect(stored).not.toContain(s.token);
    await deleteSession(d, s.token);
    expect(await getSession(d, s.token, "customer", 2_000)).toBeNull();
  });

  test("expired sessions are swept when a new one starts", async () => {
    const d = db();
    await createSession(d, { kind: "admin", accountId: null, adminHash: sha256Hex("t"), ttlMs: 10 }, 0);
    await createSession(d, { kind: "admin", accountId: null, adminHash: sha256Hex("t"), ttlMs: 10 }, 1_000);
    expect(d.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM web_sessions").get()!.n).toBe(1);
  });

  test("a console session opens only under the admin token it was opened with; the others end at start", async () => {
    const d = db();
    const [oldHash, newHash] = [sha256Hex("old-admin-token-0123456789"), sha256Hex("new-admin-token-9876543210")];
    const old = await createSession(d, { kind: "admin", accountId: null, adminHash: oldHash, ttlMs: 60_000 }, 1_000);
    const now = await createSession(d, { kind: "admin", accountId: null, adminHash: newHash, ttlMs: 60_000 }, 1_000);
    // A session opened before sessions named their token (an upgrade).
    const before = await createSession(d, { kind: "admin", accountId: null, adminHash: newHash, ttlMs: 60_000 }, 1_000);
    d.sqlite.query("UPDATE web_sessions SET admin_fingerprint = NULL WHERE id_hash = ?").run(sha256Hex(before.token));
    // Each instance judges by its own token, whichever started last: no stored "current" token.
    expect(await getSession(d, old.token, "admin", 2_000, newHash)).toBeNull();
    expect(await getSession(d, old.token, "admin", 2_000, oldHash)).toMatchObject({ csrf: old.csrf });
    expect(await getSession(d, now.token, "admin", 2_000, newHash)).toMatchObject({ csrf: now.csrf });
    expect(await getSession(d, now.token, "admin", 2_000)).toBeNull();
    expect(await getSession(d, before.token, "admin", 2_000, newHash)).toBeNull();
    // Neither the token nor the digest admin calls are checked against is stored.
    const stored = JSON.stringify(d.sqlite.query("SELECT * FROM web_sessions").all());
    expect(stored).not.toContain(newHash);
    expect(stored).not.toContain("new-admin-token");

    expect(endStaleConsoleSessionsSync(d, newHash, 2_000)).toBe(2);
    expect(await getSession(d, old.token, "admin", 2_000, oldHash)).toBeNull();
    expect(await getSession(d, now.token, "admin", 2_000, newHash)).toMatchObject({ csrf: now.csrf });
    expect(endStaleConsoleSessionsSync(d, newHash, 3_000)).toBe(0);
    const audit = await listAudit(d, { limit: 10, targetId: "console" });
    expect(audit.map((e) => [e.action, e.after])).toEqual([["console.sessions_ended", { ended: 2 }]]);
  });

  test("CSRF tokens compare exactly", () => {
    expect(checkCsrf("abc", "abc")).toBe(true);
    expect(checkCsrf("abc", "abd")).toBe(false);
    expect(checkCsrf("abc", "")).toBe(false);
    expect(checkCsrf("abc", undefined)).toBe(false);
    expect(checkCsrf("abc", ["abc"])).toBe(false);
  });

  test("passwords are argon2id hashes and verify; an unknown user still costs a verification", async () => {
    const h = await hashPassword("correct horse battery");
    expect(h.startsWith("$argon2id$")).toBe(true);
    expect(await verifyPassword("correct horse battery", h)).toBe(true);
    expect(await verifyPassword("wrong", h)).toBe(false);
    expect(await verifyPassword("anything", null)).toBe(false);
  });

  test("the sign-in throttle blocks after the limit and forgets after the window", () => {
    let now = 0;
    const t = new LoginThrottle(3, 1_000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(t.retryAfterMs("a")).toBe(0);
      t.fail("a");
      now += 10;
    }
    expect(t.retryAfterMs("a")).toBe(970);
    expect(t.retryAfterMs("b")).toBe(0);
    now = 1_001;
    expect(t.retryAfterMs("a")).toBe(0);
    t.fail("a");
    t.reset("a");
    expect(t.retryAfterMs("a")).toBe(0);
  });
});

describe("invites and logins", () => {
  test("an invite is single-use, expires, and sets the login; only the token hash is stored", async () => {
    const d = db();
    const acc = (await createAccount(d, { name: "A", email: "Owner@Example.com" }, "test"));
    const inv = await createInvite(d, { accountId: acc.id, ttlMs: 1_000, actor: "admin", baseUrl: "https://gw.example/" }, 0);
    expect(inv.email).toBe("owner@example.com");
    const token = inv.url.split("/").pop()!;
    expect(inv.url).toBe(`https://gw.example/portal/invite/${token}`);
    expect(JSON.stringify(d.sqlite.query("SELECT * FROM invites").all())).not.toContain(token);
    expect((await findInvite(d, token, 10))?.state).toBe("ok");
    expect((await findInvite(d, token, 1_000))?.state).toBe("expired");
    await expect(acceptInvite(d, token, { email: "owner@example.com", passwordHash: "h" }, 1_000)).rejects.toThrow("expired");
    await acceptInvite(d, token, { email: "owner@example.com", passwordHash: "h" }, 10);
    expect((await findLogin(d, "OWNER@example.com"))?.accountId).toBe(acc.id);
    await expect(acceptInvite(d, token, { email: "owner@example.com", passwordHash: "h2" }, 20)).rejects.toThrow("already been used");
    const audit = d.sqlite.query<{ action: string }, []>("SELECT action FROM audit_log ORDER BY id").all().map((r) => r.action);
    expect(audit).toContain("account.invite");
    expect(audit).toContain("login.set_password");
  });

  test("an email belongs to one account; a second invite resets the password and ends sessions", async () => {
    const d = db();
    const a = (await createAccount(d, { name: "A" }, "test"));
    const b = (await createAccount(d, { name: "B" }, "test"));
    const tok = async (id: string) => (await createInvite(d, { accountId: id, ttlMs: 10_000, actor: "admin", baseUrl: "http://x" }, 0)).url.split("/").pop()!;
    await acceptInvite(d, await tok(a.id), { email: "x@example.com", passwordHash: "h1" }, 1);
    await expect(acceptInvite(d, await tok(b.id), { email: "x@example.com", passwordHash: "h" }, 1)).rejects.toThrow("already used by another account");
    const s = await createSession(d, { kind: "customer", accountId: a.id, ttlMs: 10_000 }, 2);
    await acceptInvite(d, await tok(a.id), { email: "x@example.com", passwordHash: "h2" }, 3);
    expect((await findLogin(d, "x@example.com"))?.passwordHash).toBe("h2");
    expect(await getSession(d, s.token, "customer", 4)).toBeNull();
  });

  test("sign-up creates account, login and starter credit atomically; a taken email changes nothing", async () => {
    const d = db();
    const acc = await signUp(d, { name: "New", email: "new@example.com", passwordHash: "h", starterMicros: 2_000_000 }, 5);
    expect(acc.balanceMicros).toBe(2_000_000);
    expect(acc.lifetimeTopupMicros).toBe(0);
    const ledger = d.sqlite.query<{ kind: string; ref: string }, []>("SELECT kind, ref FROM ledger_entries").all();
    expect(ledger).toEqual([{ kind: "adjustment", ref: "signup" }]);
    await expect(signUp(d, { name: "Dup", email: "new@example.com", passwordHash: "h", starterMicros: 1 }, 6)).rejects.toThrow("already used");
    expect(d.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM accounts").get()!.n).toBe(1);
  });
});

describe("web helpers", () => {
  test("html escapes interpolations, keeps nested html, and JSON cannot close its script tag", () => {
    const evil = `<script>alert("x")</script>&'`;
    expect(html`<p title="${evil}">${evil}</p>`.value).toBe(
      "<p title=\"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;\">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p>",
    );
    expect(html`<ul>${["a", "<b>"].map((x) => html`<li>${x}</li>`)}</ul>`.value).toBe("<ul><li>a</li><li>&lt;b&gt;</li></ul>");
    expect(html`${null}${undefined}${false}${raw("<br>")}`.value).toBe("<br>");
    expect(jsonScript("d", { s: "</script><script>" }).value).not.toContain("</script><script>");
  });

  test("money and token formats are exact", () => {
    expect(usd(0)).toBe("$0.00");
    expect(usd(12_500_000)).toBe("$12.50");
    expect(usd(1_234_567_890_000)).toBe("$1,234,567.89");
    expect(usd(123)).toBe("$0.000123");
    expect(usd(-2_000_000)).toBe("-$2.00");
    expect(compact(950)).toBe("950");
    expect(compact(12_345)).toBe("12.3K");
    expect(compact(4_560_000)).toBe("4.56M");
  });

  test("cookies round-trip; next-URLs stay local", () => {
    const [, line] = setCookie("a", "x y;z", { path: "/portal", maxAge: 10, secure: true });
    expect(line).toBe("a=x%20y%3Bz; Path=/portal; SameSite=Lax; Max-Age=10; HttpOnly; Secure");
    expect(readCookies("a=x%20y%3Bz; b=2")).toEqual({ a: "x y;z", b: "2" });
    expect(safeNext("/portal/usage?x=1", "/portal", "/portal")).toBe("/portal/usage?x=1");
    expect(safeNext("//evil.example/portal", "/portal", "/portal")).toBe("/portal");
    expect(safeNext("https://evil.example", "/portal", "/portal")).toBe("/portal");
    expect(safeNext("/console", "/portal", "/portal")).toBe("/portal");
  });
});
