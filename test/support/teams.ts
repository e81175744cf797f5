/**
 * Helpers for the teams tests: people joining an account through invite links, signing in, and a
 * database as it was before teams (for the migration tests).
 */
import { Database } from "bun:sqlite";
import { expect } from "bun:test";
import { migrations } from "../../drizzle";
import { sha256Hex } from "../../src/lib/crypto";
import type { GatewayClient } from "./gateway";
import { WebClient } from "./web-client";

export const PASSWORD = "correct horse battery";

/** Accepts an invite link in a fresh WebClient (signed in afterwards). */
export async function accept(url: string, inviteUrl: string, email: string, password = PASSWORD): Promise<WebClient> {
  const w = new WebClient(url);
  const path = new URL(inviteUrl).pathname;
  const res = await w.submit(path, path, { email, password, confirm: password });
  expect(res.status).toBe(303);
  return w;
}

export interface Joined {
  w: WebClient;
  memberId: string;
  email: string;
}

/** Invites someone into the account through the admin API (the owner's invite, or a member's with a role) and accepts it. */
export async function join(gw: GatewayClient, accountId: string, role: "owner" | "admin" | "member", email: string): Promise<Joined> {
  const res = role === "owner"
    ? await gw.admin(`/admin/accounts/${accountId}/invite`, { body: { email } })
    : await gw.admin(`/admin/accounts/${accountId}/members`, { body: { email, role } });
  expect(res.status).toBe(201);
  const made = (await res.json()) as { url?: string; member_id?: string; invite?: { url: string; member_id: string } };
  const w = await accept(gw.url, made.invite?.url ?? made.url!, email);
  return { w, memberId: made.invite?.member_id ?? made.member_id!, email };
}

/** Signs in with email and password; the response of the sign-in form post and the client. */
export async function signIn(url: string, email: string, password = PASSWORD): Promise<{ w: WebClient; status: number }> {
  const w = new WebClient(url);
  const res = await w.submit("/portal/login", "/portal/login", { email, password });
  return { w, status: res.status };
}

/** What a database of the time before teams holds: an account with its one login, a session and a key. */
export interface PreTeams {
  accountId: string;
  email: string;
  password: string;
  /** The portal cookie value of a session opened before the upgrade. */
  session: string;
  keyId: string;
  key: string;
  /** An open invite link token (the owner's, as all invites were). */
  inviteToken: string;
}

/**
 * Creates `path` at the schema of the last release before teams (the migrations before it) and
 * fills it as that release would have: one login per account, a session, a key, an open invite.
 */
export async function preTeamsDatabase(path: string): Promise<PreTeams> {
  const db = new Database(path, { create: true });
  // Every migration before the one that brought teams (whatever its number after a merge).
  const before = migrations.slice(0, migrations.findIndex((m) => m.sql.includes("CREATE TABLE `account_members`")));
  db.exec("CREATE TABLE IF NOT EXISTS __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)");
  for (const m of before) {
    for (const stmt of m.sql.split("--> statement-breakpoint")) if (stmt.trim()) db.exec(stmt);
    db.query("INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)").run(new Bun.CryptoHasher("sha256").update(m.sql).digest("hex"), m.when);
  }
  const now = Date.now();
  const p: PreTeams = {
    accountId: "acc_pre_teams_0001", email: "old-owner@example.com", password: "an old password 123", session: "OldSessionCookieValue0123456789abcdefABCDEF",
    keyId: "key_pre_teams_0001", key: "sk-tg-PreTeamsKey0123456789abcdefABCDEF0123456", inviteToken: "PreTeamsInviteToken0123456789abcdefABCDE",
  };
  db.query("INSERT INTO accounts (id, name, email, plan, status, balance_micros, lifetime_topup_micros, created_at) VALUES (?, 'Old Co', ?, 'default', 'active', 5000000, 5000000, ?)").run(p.accountId, p.email, now);
  db.query("INSERT INTO ledger_entries (account_id, kind, amount_micros, balance_after_micros, ref, created_at) VALUES (?, 'topup', 5000000, 5000000, 'seed', ?)").run(p.accountId, now);
  db.query("INSERT INTO account_logins (account_id, email, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)").run(p.accountId, p.email, await Bun.password.hash(p.password, { algorithm: "argon2id" }), now, now);
  db.query("INSERT INTO web_sessions (id_hash, kind, account_id, csrf, expires_at, created_at) VALUES (?, 'customer', ?, 'csrf-of-old-session-0123456789ab', ?, ?)").run(sha256Hex(p.session), p.accountId, now + 86_400_000, now);
  db.query("INSERT INTO api_keys (id, account_id, name, hash, prefix, last4, created_at) VALUES (?, ?, 'old key', ?, 'sk-tg-', ?, ?)").run(p.keyId, p.accountId, sha256Hex(p.key), p.key.slice(-4), now);
  db.query("INSERT INTO invites (id, account_id, token_hash, email, expires_at, created_by, created_at) VALUES ('inv_pre_teams', ?, ?, ?, ?, 'admin', ?)").run(p.accountId, sha256Hex(p.inviteToken), p.email, now + 86_400_000, now);
  db.close();
  return p;
}

/** Creates a key in the portal as `w` (signed in); its id (read back with GET /v1/me) and secret. */
export async function portalKey(gw: GatewayClient, w: WebClient, name: string): Promise<{ id: string; key: string }> {
  expect((await w.submit("/portal/keys", "/portal/keys", { name })).status).toBe(303);
  const key = /<code id="new-key">([^<]+)</.exec((await w.page("/portal/keys")).html)![1]!;
  const me = (await (await gw.me(key)).json()) as { key: { id: string } };
  return { id: me.key.id, key };
}
