import { and, eq, isNull, lt, or } from "drizzle-orm";
import type { Store } from "../store/store";
import { get, run, type Q, type Work } from "../store/work";
import { safeEqual, sha256Hex } from "../lib/crypto";
import { errors } from "../lib/errors";
import { randomBase62 } from "../lib/ids";
import type { AccountRow } from "../modules/accounts/service";
import type { MemberRow } from "./members";
import { AttemptGate } from "./attempt-gate";

export type SessionKind = "customer" | "admin";

export interface WebSession {
  kind: SessionKind;
  accountId: string | null;
  /** The signed-in member (portal); null: the account's owner (a session from before teams). */
  memberId: string | null;
  csrf: string;
  expiresAt: number;
  /** The cookie value (only its hash is stored). */
  token: string;
}

/**
 * What a console session is bound to: its admin token's fingerprint, a hash of the token's hash
 * (the database holds neither the token nor the digest that admin calls are checked against).
 */
export const consoleFingerprint = (adminHash: string): string => sha256Hex(`console-sessions:${adminHash}`);

/** A new session: a console one names the admin token it was opened with (its SHA-256). */
export type NewSession =
  | { kind: "customer"; accountId: string | null; memberId?: string | null; ttlMs: number }
  | { kind: "admin"; accountId: null; adminHash: string; ttlMs: number };

/** Starts a session; the cookie value is returned, only its SHA-256 is stored. */
export async function createSession(store: Store, s: NewSession, now = Date.now()): Promise<WebSession> {
  const token = randomBase62(43);
  const csrf = randomBase62(32);
  const expiresAt = now + s.ttlMs;
  const memberId = s.kind === "customer" ? (s.memberId ?? null) : null;
  const adminFingerprint = s.kind === "admin" ? consoleFingerprint(s.adminHash) : null;
  await store.tx(function* (q) {
    const w = q.t.webSessions;
    // Housekeeping piggybacks on sign-in, so expired rows never pile up.
    yield* run(q.db.delete(w).where(lt(w.expiresAt, now)));
    yield* run(q.db.insert(w).values({ idHash: sha256Hex(token), kind: s.kind, accountId: s.accountId, memberId, csrf, adminFingerprint, expiresAt, createdAt: now }));
  });
  return { kind: s.kind, accountId: s.accountId, memberId, csrf, expiresAt, token };
}

/** A cookie value worth looking up (a longer one is no token of ours). */
const plausible = (token: string | undefined): token is string => !!token && token.length <= 100;

/**
 * The session of a cookie, if open: one indexed read (every dashboard page asks). A console
 * session also needs `adminHash`, this instance's admin token: one opened with another token
 * (changed since, or not yet changed here) does not open the console, whichever instance started
 * when. It is refused, not deleted: during a rolling restart it is still valid where its token is.
 */
export async function getSession(store: Store, token: string | undefined, kind: SessionKind, now = Date.now(), adminHash?: string): Promise<WebSession | null> {
  if (!plausible(token)) return null;
  const row = await store.read((q) => get(q.db.select().from(q.t.webSessions).where(eq(q.t.webSessions.idHash, sha256Hex(token)))));
  if (!row || row.kind !== kind || row.expiresAt <= now) return null;
  if (kind === "admin" && !(adminHash && row.adminFingerprint && safeEqual(row.adminFingerprint, consoleFingerprint(adminHash)))) return null;
  return { kind: row.kind, accountId: row.accountId, memberId: row.memberId, csrf: row.csrf, expiresAt: row.expiresAt, token };
}

/**
 * A portal session with its account and signed-in member, in one indexed query (the portal reads
 * it on every page). The member is null for a session from before teams, or one since deleted.
 */
export async function getPortalSession(
  store: Store,
  token: string | undefined,
  now = Date.now(),
): Promise<{ session: WebSession; account: AccountRow; member: MemberRow | null } | null> {
  if (!plausible(token)) return null;
  const found = await store.read((q) => {
    const { webSessions: w, accounts: a, accountMembers: m } = q.t;
    return get(q.db.select({ s: w, a, m }).from(w).leftJoin(a, eq(a.id, w.accountId)).leftJoin(m, eq(m.id, w.memberId)).where(eq(w.idHash, sha256Hex(token))));
  });
  const row = found?.s;
  if (!row || row.kind !== "customer" || row.expiresAt <= now) return null;
  if (!found.a) throw errors.notFound(`Account ${row.accountId}`, "id");
  const session: WebSession = { kind: row.kind, accountId: row.accountId, memberId: row.memberId, csrf: row.csrf, expiresAt: row.expiresAt, token };
  return { session, account: found.a, member: found.m };
}

/** Ends a session (sign-out, or its member was removed). */
export async function deleteSession(store: Store, token: string): Promise<void> {
  await store.tx((q) => run(q.db.delete(q.t.webSessions).where(eq(q.t.webSessions.idHash, sha256Hex(token)))), { notify: true });
}

/**
 * Signs one member out everywhere (password reset, removal); the owner's sessions include those
 * from before teams (no member). Part of the caller's unit of work, which commits with notify.
 */
export function* deleteMemberSessions(q: Q, m: { id: string; accountId: string; role: string }): Work<number> {
  const w = q.t.webSessions;
  const whose = m.role === "owner" ? or(eq(w.memberId, m.id), isNull(w.memberId)) : eq(w.memberId, m.id);
  return (yield* run(q.db.delete(w).where(and(eq(w.kind, "customer"), eq(w.accountId, m.accountId), whose)))).changes;
}

export function checkCsrf(expected: string, presented: unknown): boolean {
  return typeof presented === "string" && presented.length > 0 && safeEqual(expected, presented);
}

export const hashPassword = (password: string): Promise<string> =>
  Bun.password.hash(password, { algorithm: "argon2id" });

let dummyHash: Promise<string> | undefined;

/**
 * Verifies a password; with no stored hash it still spends the time of one verification, so the
 * response time does not reveal whether an email has an account.
 */
export async function verifyPassword(password: string, hash: string | null | undefined): Promise<boolean> {
  if (!hash) {
    await Bun.password.verify(password, await (dummyHash ??= hashPassword(randomBase62(24))));
    return false;
  }
  return Bun.password.verify(password, hash);
}

/** Keys one throttle keeps at most; each is short (an address, an email of at most 254 characters). */
const THROTTLE_KEYS = 10_000;

/**
 * Counts failed sign-ins per key (a client address, or an address and an email) in a sliding window; once `max` failures
 * are in the window the key is blocked until the oldest one leaves it. Credentials checked with an
 * await (a password hash) go through an AttemptGate, which bounds the attempts in flight with the
 * failures; requests merely counted use takeAttempt. In memory: a restart forgets, which is
 * acceptable for a brute-force brake.
 */
export class LoginThrottle {
  /** Failure times per key, in the order of each key's latest failure (fail re-inserts it). */
  private failures = new Map<string, number[]>();
  /** When keys whose failures all left the window were last dropped (see makeRoom). */
  private sweptAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly capacity = THROTTLE_KEYS,
  ) {}

  /** Milliseconds until the key may try again; 0 when it may try now. */
  retryAfterMs(key: string): number {
    const list = this.prune(key);
    if (list.length < this.max) return 0;
    return list[0]! + this.windowMs - this.now();
  }

  /** The failures counted for the key in the window. */
  failureCount(key: string): number {
    return this.prune(key).length;
  }

  fail(key: string): void {
    const list = this.prune(key);
    if (list.length === 0) this.makeRoom();
    list.push(this.now());
    this.failures.delete(key);
    this.failures.set(key, list);
  }

  reset(key: string): void {
    this.failures.delete(key);
  }

  private prune(key: string): number[] {
    const cutoff = this.now() - this.windowMs;
    const list = (this.failures.get(key) ?? []).filter((t) => t > cutoff);
    if (list.length === 0) this.failures.delete(key);
    return list;
  }

  /**
   * Keeps memory bounded whatever addresses and emails fail: keys whose failures all left the
   * window are dropped (once a window, and when the map is full), then the least recently failed
   * keys that are not paused, then, when every key kept is paused, the pauses that end soonest. A
   * newcomer is never turned away for want of room: that would let anyone who fills the map with
   * paused keys lock out every customer and the operator.
   */
  private makeRoom(): void {
    const now = this.now();
    if (now - this.sweptAt >= this.windowMs) this.dropExpired(now);
    if (this.failures.size < this.capacity) return;
    this.dropExpired(now);
    this.dropUnpaused(now);
    if (this.failures.size >= this.capacity) this.dropSoonestUnpaused(now);
  }

  private dropExpired(now: number): void {
    const cutoff = now - this.windowMs;
    for (const [key, list] of this.failures) if (list[list.length - 1]! <= cutoff) this.failures.delete(key);
    this.sweptAt = now;
  }

  /** Down to 90% of the capacity, so that a full map is not scanned again at every new key. */
  private dropUnpaused(now: number): void {
    for (const [key, list] of this.failures) {
      if (this.failures.size <= this.target) return;
      if (this.recent(list, now).length < this.max) this.failures.delete(key);
    }
  }

  /** Down to 90% again, the keys whose pauses end first going first (they were nearly free anyway). */
  private dropSoonestUnpaused(now: number): void {
    const ends = [...this.failures].map(([key, list]) => [key, this.recent(list, now).at(-this.max) ?? 0] as const);
    ends.sort((a, b) => a[1] - b[1]);
    for (const [key] of ends.slice(0, this.failures.size - this.target)) this.failures.delete(key);
  }

  private get target(): number {
    return this.capacity - Math.ceil(this.capacity / 10);
  }

  private recent(list: number[], now: number): number[] {
    return list.filter((t) => t > now - this.windowMs);
  }
}

/**
 * Counts a request on each throttle, or on none when one of them is paused: 0, or the
 * milliseconds to wait. For allowances where every request counts (sign-ups, invitations), never
 * for credentials: a good one would count as a failure while it is checked (see AttemptGate).
 */
export function takeAttempt(...slots: readonly (readonly [LoginThrottle, string])[]): number {
  const wait = Math.max(0, ...slots.map(([t, key]) => t.retryAfterMs(key)));
  if (wait === 0) for (const [t, key] of slots) t.fail(key);
  return wait;
}

/**
 * The throttles of failed credentials, all per client address (see lib/client-address.ts): a
 * throttle keyed on an account, an email or the console alone would let anyone lock its owner out.
 */
export interface Throttles {
  /**
   * Console sign-in and sign-up confirmation (per address), portal sign-in (per address and
   * email): 5 failures in 15 minutes. Gates: a right password being checked is no failure.
   */
  signIn: AttemptGate;
  /** Portal sign-in per address, whatever the email: 20 failures in 15 minutes (a spray over many emails). */
  signInAddress: AttemptGate;
  /** Admin API calls with a wrong or missing token: 30 a minute, then 429 (a right token resets; checked without an await). */
  adminApi: LoginThrottle;
  /** Open sign-up requests (each sends an email): 10 an hour. */
  signUp: LoginThrottle;
  /**
   * Invitations from the portal (new or a new link, mailed or not), per account: 30 an hour. The
   * operator's mail server is not a customer's to spray, nor other accounts' emails to probe.
   */
  invites: LoginThrottle;
  /** Credit codes that did not redeem (unknown, used, expired), per account: 20 an hour. */
  redeem: AttemptGate;
}

export function createThrottles(now: () => number = Date.now): Throttles {
  return {
    signIn: new AttemptGate(new LoginThrottle(5, 15 * 60_000, now)),
    signInAddress: new AttemptGate(new LoginThrottle(20, 15 * 60_000, now)),
    adminApi: new LoginThrottle(30, 60_000, now),
    signUp: new LoginThrottle(10, 3_600_000, now),
    invites: new LoginThrottle(30, 3_600_000, now),
    redeem: new AttemptGate(new LoginThrottle(20, 3_600_000, now)),
  };
}
