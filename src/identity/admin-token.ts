import { eq } from "drizzle-orm";
import type { SqliteStore } from "../store/sqlite-store";
import { settings } from "../store/schema";
import { sha256Hex } from "../lib/crypto";
import { randomBase62 } from "../lib/ids";
import { audit } from "../modules/audit/service";

const SETTING = "admin_token_sha256";
/** A fingerprint of the admin token that the open console sessions were signed in with. */
const CONSOLE_SETTING = "console_sessions_admin_fingerprint";

/**
 * The admin credential as a SHA-256 digest. A configured token wins; otherwise the stored hash is
 * used, and on the very first start a token is generated, returned once (to be printed) and only
 * its hash is stored.
 */
export function resolveAdminToken(store: SqliteStore, configured: string | undefined): { hash: string; generated?: string } {
  if (configured) return { hash: sha256Hex(configured) };
  const stored = store.db.select().from(settings).where(eq(settings.key, SETTING)).get();
  if (stored) return { hash: stored.value };
  const token = `tg-admin-${randomBase62(40)}`;
  const hash = sha256Hex(token);
  store.durable(() => {
    store.db.insert(settings).values({ key: SETTING, value: hash }).run();
    audit(store, { actor: "system", action: "admin_token.generate", targetType: "settings", targetId: SETTING });
  });
  return { hash, generated: token };
}

/**
 * Console sessions belong to the admin token they were opened with: when the gateway starts with
 * another token (an operator changing it to lock out whoever learnt the old one), every console
 * session ends. Returns how many were ended.
 */
export function endStaleConsoleSessions(store: SqliteStore, adminHash: string): number {
  const fingerprint = sha256Hex(`console-sessions:${adminHash}`);
  const stored = store.db.select().from(settings).where(eq(settings.key, CONSOLE_SETTING)).get();
  if (stored?.value === fingerprint) return 0;
  return store.durable(() => {
    const ended = store.sqlite.query("DELETE FROM web_sessions WHERE kind = 'admin'").run().changes;
    store.db.insert(settings).values({ key: CONSOLE_SETTING, value: fingerprint })
      .onConflictDoUpdate({ target: settings.key, set: { value: fingerprint } }).run();
    if (ended > 0) audit(store, { actor: "system", action: "console.sessions_ended", targetType: "settings", targetId: CONSOLE_SETTING, after: { ended } });
    return ended;
  });
}

/** Constant-time check of a presented admin token against the stored digest. */
export function checkAdminToken(presented: string | null | undefined, hash: string): boolean {
  if (!presented) return false;
  const expected = Buffer.from(hash, "hex");
  // A damaged stored digest must refuse everyone, not throw (a 500 on every admin call).
  if (expected.length !== 32) return false;
  return crypto.timingSafeEqual(Buffer.from(sha256Hex(presented), "hex"), expected);
}
