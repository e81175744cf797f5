import { and, eq, isNull, ne, or } from "drizzle-orm";
import type { SqliteStore } from "../store/sqlite-store";
import type { Store } from "../store/store";
import { get, run, type Q, type Work } from "../store/work";
import { sha256Hex } from "../lib/crypto";
import { randomBase62 } from "../lib/ids";
import { recordAudit } from "../modules/audit/service";
import { consoleFingerprint } from "./sessions";

const SETTING = "admin_token_sha256";

function* setting(q: Q, key: string): Work<string | null> {
  return (yield* get(q.db.select().from(q.t.settings).where(eq(q.t.settings.key, key))))?.value ?? null;
}

/**
 * Stores the hash of a generated token unless another instance stored one first (they may start
 * together on one PostgreSQL): the hash that counts, and whether it is this token's.
 */
function* storeGenerated(q: Q, hash: string, now: number): Work<{ hash: string; mine: boolean }> {
  const { changes } = yield* run(q.db.insert(q.t.settings).values({ key: SETTING, value: hash }).onConflictDoNothing());
  if (changes === 0) return { hash: (yield* setting(q, SETTING))!, mine: false };
  yield* recordAudit(q, { actor: "system", action: "admin_token.generate", targetType: "settings", targetId: SETTING }, now);
  return { hash, mine: true };
}

/**
 * The admin credential as a SHA-256 digest. A configured token wins; otherwise the stored hash is
 * used, and on the very first start a token is generated, returned once (to be printed) and only
 * its hash is stored.
 */
export async function resolveAdminToken(store: Store, configured: string | undefined, now = Date.now()): Promise<{ hash: string; generated?: string }> {
  if (configured) return { hash: sha256Hex(configured) };
  const stored = await store.read((q) => setting(q, SETTING));
  if (stored) return { hash: stored };
  const token = `tg-admin-${randomBase62(40)}`;
  const r = await store.tx((q) => storeGenerated(q, sha256Hex(token), now), { durable: true });
  return r.mine ? { hash: r.hash, generated: token } : { hash: r.hash };
}

/** resolveAdminToken for the SQLite start-up (buildRuntime), which is synchronous until it runs over Store. */
export function resolveAdminTokenSync(store: SqliteStore, configured: string | undefined, now = Date.now()): { hash: string; generated?: string } {
  if (configured) return { hash: sha256Hex(configured) };
  const stored = store.readSync((q) => setting(q, SETTING));
  if (stored) return { hash: stored };
  const token = `tg-admin-${randomBase62(40)}`;
  const r = store.txSync((q) => storeGenerated(q, sha256Hex(token), now), { durable: true });
  return r.mine ? { hash: r.hash, generated: token } : { hash: r.hash };
}

/** The console sessions opened with another admin token, or before sessions named theirs. */
function staleConsole(q: Q, adminHash: string) {
  const w = q.t.webSessions;
  return and(eq(w.kind, "admin"), or(isNull(w.adminFingerprint), ne(w.adminFingerprint, consoleFingerprint(adminHash))));
}

function* anyStale(q: Q, adminHash: string): Work<boolean> {
  const w = q.t.webSessions;
  return !!(yield* get(q.db.select({ id: w.idHash }).from(w).where(staleConsole(q, adminHash)).limit(1)));
}

function* endConsoleSessions(q: Q, adminHash: string, now: number): Work<number> {
  const { changes: ended } = yield* run(q.db.delete(q.t.webSessions).where(staleConsole(q, adminHash)));
  if (ended > 0) yield* recordAudit(q, { actor: "system", action: "console.sessions_ended", targetType: "web_sessions", targetId: "console", after: { ended } }, now);
  return ended;
}

/**
 * Console sessions belong to the admin token they were opened with, and getSession refuses them
 * under any other. At start the gateway also deletes those of other tokens (and those from before
 * sessions named their token), so that the change is audited and the rows go now rather than at
 * their expiry. Returns how many were ended.
 */
export async function endStaleConsoleSessions(store: Store, adminHash: string, now = Date.now()): Promise<number> {
  if (!(await store.read((q) => anyStale(q, adminHash)))) return 0;
  return store.tx((q) => endConsoleSessions(q, adminHash, now), { durable: true, notify: true });
}

/** endStaleConsoleSessions for the SQLite start-up (buildRuntime), which is synchronous until it runs over Store. */
export function endStaleConsoleSessionsSync(store: SqliteStore, adminHash: string, now = Date.now()): number {
  if (!store.readSync((q) => anyStale(q, adminHash))) return 0;
  return store.txSync((q) => endConsoleSessions(q, adminHash, now), { durable: true });
}

/** Constant-time check of a presented admin token against the stored digest. */
export function checkAdminToken(presented: string | null | undefined, hash: string): boolean {
  if (!presented) return false;
  const expected = Buffer.from(hash, "hex");
  // A damaged stored digest must refuse everyone, not throw (a 500 on every admin call).
  if (expected.length !== 32) return false;
  return crypto.timingSafeEqual(Buffer.from(sha256Hex(presented), "hex"), expected);
}
