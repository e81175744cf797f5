import { eq } from "drizzle-orm";
import type { SqliteStore } from "../store/sqlite-store";
import type { Store } from "../store/store";
import { get, run, type Q, type Work } from "../store/work";
import { sha256Hex } from "../lib/crypto";
import { randomBase62 } from "../lib/ids";
import { recordAudit } from "../modules/audit/service";

const SETTING = "admin_token_sha256";
/** A fingerprint of the admin token that the open console sessions were signed in with. */
const CONSOLE_SETTING = "console_sessions_admin_fingerprint";

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

/** Ends the console sessions of another admin token and records this one's fingerprint. */
function* endConsoleSessions(q: Q, fingerprint: string, now: number): Work<number> {
  const { changes: ended } = yield* run(q.db.delete(q.t.webSessions).where(eq(q.t.webSessions.kind, "admin")));
  const s = q.t.settings;
  yield* run(q.db.insert(s).values({ key: CONSOLE_SETTING, value: fingerprint }).onConflictDoUpdate({ target: s.key, set: { value: fingerprint } }));
  if (ended > 0) yield* recordAudit(q, { actor: "system", action: "console.sessions_ended", targetType: "settings", targetId: CONSOLE_SETTING, after: { ended } }, now);
  return ended;
}

const consoleFingerprint = (adminHash: string) => sha256Hex(`console-sessions:${adminHash}`);

/**
 * Console sessions belong to the admin token they were opened with: when the gateway starts with
 * another token (an operator changing it to lock out whoever learnt the old one), every console
 * session ends. Returns how many were ended.
 */
export async function endStaleConsoleSessions(store: Store, adminHash: string, now = Date.now()): Promise<number> {
  const fingerprint = consoleFingerprint(adminHash);
  if ((await store.read((q) => setting(q, CONSOLE_SETTING))) === fingerprint) return 0;
  return store.tx((q) => endConsoleSessions(q, fingerprint, now), { durable: true, notify: true });
}

/** endStaleConsoleSessions for the SQLite start-up (buildRuntime), which is synchronous until it runs over Store. */
export function endStaleConsoleSessionsSync(store: SqliteStore, adminHash: string, now = Date.now()): number {
  const fingerprint = consoleFingerprint(adminHash);
  if (store.readSync((q) => setting(q, CONSOLE_SETTING)) === fingerprint) return 0;
  return store.txSync((q) => endConsoleSessions(q, fingerprint, now), { durable: true });
}

/** Constant-time check of a presented admin token against the stored digest. */
export function checkAdminToken(presented: string | null | undefined, hash: string): boolean {
  if (!presented) return false;
  const expected = Buffer.from(hash, "hex");
  // A damaged stored digest must refuse everyone, not throw (a 500 on every admin call).
  if (expected.length !== 32) return false;
  return crypto.timingSafeEqual(Buffer.from(sha256Hex(presented), "hex"), expected);
}
