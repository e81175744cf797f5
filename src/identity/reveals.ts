import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { eq, lt, or } from "drizzle-orm";
import type { Store } from "../store/store";
import { get, run } from "../store/work";
import { sha256Hex } from "../lib/crypto";

/** What a page shows once: a new or rotated API key, an invite link (portal, console), new codes. */
export type RevealKind = "key" | "member-invite" | "account-invite" | "codes";

const LABEL = "tollgate web reveal v1";
const TTL_MS = 10 * 60_000;

/**
 * The row of a session's reveal of one kind for one thing (`of`: an account's invite is its page's
 * only); never the session's own id_hash (sha256 of the token alone).
 */
const rowId = (token: string, kind: RevealKind, of = ""): string => sha256Hex(`${LABEL}\n${kind}\n${of}\n${token}`);

/** The sealing key: only whoever presents the session cookie can derive it, not the database. */
const keyOf = (token: string, kind: RevealKind): Buffer => Buffer.from(hkdfSync("sha256", token, LABEL, kind, 32));

/** AES-256-GCM of the value's JSON, bound to its row: base64 of iv (12) | tag (16) | ciphertext. */
export function seal(token: string, kind: RevealKind, value: unknown, of = ""): string {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", keyOf(token, kind), iv);
  c.setAAD(Buffer.from(rowId(token, kind, of)));
  const body = Buffer.concat([c.update(JSON.stringify(value), "utf8"), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString("base64");
}

/** The sealed value, or null when it does not open with this session's key (tampered, another's, or for another thing). */
export function unseal(token: string, kind: RevealKind, sealed: string, of = ""): unknown {
  try {
    const raw = Buffer.from(sealed, "base64");
    const d = createDecipheriv("aes-256-gcm", keyOf(token, kind), raw.subarray(0, 12));
    d.setAAD(Buffer.from(rowId(token, kind, of)));
    d.setAuthTag(raw.subarray(12, 28));
    return JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8"));
  } catch {
    return null;
  }
}

/**
 * One-shot secrets to show after a redirect (a new API key, invite link or codes), so that
 * creating something is post/redirect/get and a reload never creates it twice. Kept in the
 * shared store, sealed (see `seal`), because the redirected GET may reach another instance; per
 * session, kind and what it is for (`of`), for ten minutes, read once.
 */
export class Reveals<T> {
  constructor(
    private readonly store: Store,
    private readonly kind: RevealKind,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = TTL_MS,
  ) {}

  /** Keeps `value` for the session's page of `of` (default: the kind's one page), replacing one not shown yet; sweeps expired ones. */
  async put(sessionToken: string, value: T, of = ""): Promise<void> {
    const now = this.now();
    const id = rowId(sessionToken, this.kind, of);
    const sealed = seal(sessionToken, this.kind, value, of);
    const expiresAt = now + this.ttlMs;
    await this.store.tx(function* (q) {
      const r = q.t.webReveals;
      yield* run(q.db.delete(r).where(or(eq(r.idHash, id), lt(r.expiresAt, now))));
      yield* run(q.db.insert(r).values({ idHash: id, sealed, expiresAt }));
    });
  }

  /** The session's value for the page of `of`, once: the row is deleted as it is read, so two pages never both show it. */
  async take(sessionToken: string, of = ""): Promise<T | null> {
    const id = rowId(sessionToken, this.kind, of);
    // A plain read first: most page views have nothing waiting, and need no write.
    const waiting = await this.store.read((q) => get(q.db.select({ id: q.t.webReveals.idHash }).from(q.t.webReveals).where(eq(q.t.webReveals.idHash, id))));
    if (!waiting) return null;
    const row = await this.store.tx((q) => get(q.db.delete(q.t.webReveals).where(eq(q.t.webReveals.idHash, id)).returning()), { isolation: "read committed" });
    if (!row || row.expiresAt <= this.now()) return null;
    return unseal(sessionToken, this.kind, row.sealed, of) as T | null;
  }
}
