import { eq, lt } from "drizzle-orm";
import type { SqliteStore } from "../../store/sqlite-store";
import { signupRequests } from "../../store/schema";
import { memberByEmail } from "../members";
import { sha256Hex } from "../../lib/crypto";
import { errors } from "../../lib/errors";
import { newId, randomBase62 } from "../../lib/ids";
import type { AccountRow } from "../../modules/accounts/service";
import { signUp } from "./service";

export type SignUpRequestRow = typeof signupRequests.$inferSelect;

/**
 * Open sign-up, step one: keeps the sign-up until the link mailed to the address is used, and
 * returns that link's token; null when the email already has a login. The caller answers both
 * alike, so the form never tells whether an email is registered. Only the newest request of an
 * email stays; expired ones are dropped.
 */
export function requestSignUp(
  store: SqliteStore,
  p: { name: string; email: string; passwordHash: string; ttlMs: number },
  now = Date.now(),
): { token: string } | null {
  const token = randomBase62(40);
  return store.write(() => {
    store.db.delete(signupRequests).where(lt(signupRequests.expiresAt, now)).run();
    if (memberByEmail(store, p.email)) return null;
    store.db.delete(signupRequests).where(eq(signupRequests.email, p.email)).run();
    store.db.insert(signupRequests).values({
      id: newId("sup"), tokenHash: sha256Hex(token), email: p.email, name: p.name, passwordHash: p.passwordHash,
      expiresAt: now + p.ttlMs, createdAt: now,
    }).run();
    return { token };
  });
}

/** The open sign-up of a mailed link, unless unknown or expired. */
export function findSignUp(store: SqliteStore, token: string, now = Date.now()): SignUpRequestRow | null {
  if (!/^[0-9A-Za-z]{20,64}$/.test(token)) return null;
  const row = store.db.select().from(signupRequests).where(eq(signupRequests.tokenHash, sha256Hex(token))).get();
  return row && row.expiresAt > now ? row : null;
}

/**
 * Step two, once the caller has checked the password chosen at step one: the account, its login
 * and the starter credit in one durable transaction (signUp), and the request is forgotten.
 */
export function completeSignUp(store: SqliteStore, token: string, starterMicros: number, now = Date.now()): AccountRow {
  return store.durable(() => {
    const row = findSignUp(store, token, now);
    if (!row) throw errors.notFound("Sign-up link");
    const account = signUp(store, { name: row.name, email: row.email, passwordHash: row.passwordHash, starterMicros }, now);
    store.db.delete(signupRequests).where(eq(signupRequests.email, row.email)).run();
    return account;
  });
}
