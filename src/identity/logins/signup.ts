import { eq, lt } from "drizzle-orm";
import type { signupRequests } from "../../store/schema";
import type { Store } from "../../store/store";
import { all, get, run, type Q, type Work } from "../../store/work";
import { memberByEmail } from "../members";
import { sha256Hex } from "../../lib/crypto";
import { errors } from "../../lib/errors";
import { newId, randomBase62 } from "../../lib/ids";
import type { AccountRow } from "../../modules/accounts/service";
import { insertSignUp } from "./service";
import { unproven } from "./address-claims";

export type SignUpRequestRow = typeof signupRequests.$inferSelect;

/** Pending requests kept per email: the table stays small however often an address is submitted. */
const PENDING_PER_EMAIL = 5;

/**
 * Open sign-up, step one: keeps the sign-up until the link mailed to the address is used, and
 * returns that link's token; "full" when the email has PENDING_PER_EMAIL pending already (nothing
 * to mail); null when the email already has a login with a proven address
 * (address-claims.ts). The caller answers both alike, so the form never tells whether an email
 * is registered. Every pending request of an email keeps its link (a stranger who knows the
 * address must not void its owner's), up to PENDING_PER_EMAIL of them (later ones are dropped,
 * answered alike); expired ones go.
 */
export function requestSignUp(
  store: Store,
  p: { name: string; email: string; passwordHash: string; ttlMs: number },
  now = Date.now(),
): Promise<{ token: string } | "full" | null> {
  const token = randomBase62(40);
  return store.tx(function* (q) {
    const r = q.t.signupRequests;
    yield* run(q.db.delete(r).where(lt(r.expiresAt, now)));
    const holder = yield* memberByEmail(q, p.email);
    if (holder && !(yield* unproven(q, holder))) return null;
    // At the cap a new request is dropped, not an old one: submitting someone's address again and
    // again must not void the link mailed to them. Answered alike: the form tells nothing.
    if ((yield* pendingOf(q, p.email)) >= PENDING_PER_EMAIL) return "full" as const;
    yield* run(q.db.insert(r).values({
      id: newId("sup"), tokenHash: sha256Hex(token), email: p.email, name: p.name, passwordHash: p.passwordHash,
      expiresAt: now + p.ttlMs, createdAt: now,
    }));
    return { token };
  });
}

/** Pending (unexpired) sign-ups of the email. */
function* pendingOf(q: Q, email: string): Work<number> {
  const r = q.t.signupRequests;
  return (yield* all(q.db.select({ id: r.id }).from(r).where(eq(r.email, email)))).length;
}

/** The open sign-up of a mailed link, unless unknown or expired. */
function* signUpByToken(q: Q, token: string, now: number): Work<SignUpRequestRow | null> {
  if (!/^[0-9A-Za-z]{20,64}$/.test(token)) return null;
  const row = yield* get(q.db.select().from(q.t.signupRequests).where(eq(q.t.signupRequests.tokenHash, sha256Hex(token))));
  return row && row.expiresAt > now ? row : null;
}

export const findSignUp = (store: Store, token: string, now = Date.now()): Promise<SignUpRequestRow | null> =>
  store.read((q) => signUpByToken(q, token, now));

/**
 * Step two, once the caller has checked the password chosen at step one: the account, its login
 * and the starter credit in one durable transaction (insertSignUp), and the request is forgotten.
 */
export function completeSignUp(store: Store, token: string, starterMicros: number, now = Date.now()): Promise<{ account: AccountRow; ownerId: string }> {
  return store.tx(
    function* (q) {
      const row = yield* signUpByToken(q, token, now);
      if (!row) throw errors.notFound("Sign-up link");
      const done = yield* insertSignUp(q, { name: row.name, email: row.email, passwordHash: row.passwordHash, starterMicros }, now);
      yield* run(q.db.delete(q.t.signupRequests).where(eq(q.t.signupRequests.email, row.email)));
      return done;
    },
    { durable: true },
  );
}
