import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { like, lt } from "drizzle-orm";
import type { Store } from "../store/store";
import { all, get, run } from "../store/work";
import { sha256Hex } from "../lib/crypto";

/** What a page shows once: a new or rotated API key, an invite link (portal, console), new codes. */
export type RevealKind = "key" | "member-invite" | "account-invite" | "codes";

const LABEL = "tollgate web reveal v1";
const TTL_MS = 10 * 60_000;

/**
 * What a session's reveals of one kind, for one thing (`of`: an account's invite is its page's
 * only), share: the prefix of their rows' ids, and what their sealing is bound to. Never the
 * session's own id_hash (sha256 of the token alone).
 */
const groupOf = (token: string, kind: RevealKind, of = ""): string => sha256Hex(`${LABEL}\n${kind}\n${of}\n${token}`);

/** Orders the reveals one instance makes in the same millisecond. */
let sequence = 0;

/**
 * One row of the group: a group holds every reveal not shown yet (two tabs may each make one before
 * either page loads). The suffix sorts oldest first: the time, this instance's count, then chance.
 */
function rowId(group: string, now: number): string {
  sequence = (sequence + 1) % 0x1_0000_0000;
  const stamp = Math.max(0, Math.floor(now)).toString(16).padStart(12, "0") + sequence.toString(16).padStart(8, "0");
  return `${group}.${stamp}${randomBytes(8).toString("hex")}`;
}

/** The sealing key: only whoever presents the session cookie can derive it, not the database. */
const keyOf = (token: string, kind: RevealKind): Buffer => Buffer.from(hkdfSync("sha256", token, LABEL, kind, 32));

/** AES-256-GCM of the value's JSON, bound to its group: base64 of iv (12) | tag (16) | ciphertext. */
export function seal(token: string, kind: RevealKind, value: unknown, of = ""): string {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", keyOf(token, kind), iv);
  c.setAAD(Buffer.from(groupOf(token, kind, of)));
  const body = Buffer.concat([c.update(JSON.stringify(value), "utf8"), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString("base64");
}

/** The sealed value, or null when it does not open with this session's key (tampered, another's, or for another thing). */
export function unseal(token: string, kind: RevealKind, sealed: string, of = ""): unknown {
  try {
    const raw = Buffer.from(sealed, "base64");
    const d = createDecipheriv("aes-256-gcm", keyOf(token, kind), raw.subarray(0, 12));
    d.setAAD(Buffer.from(groupOf(token, kind, of)));
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
 * session, kind and what they are for (`of`), every one kept until shown, for ten minutes, read once.
 */
export class Reveals<T> {
  constructor(
    private readonly store: Store,
    private readonly kind: RevealKind,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = TTL_MS,
  ) {}

  /** Keeps `value` for the page of `of` (default: the kind's one page), beside any not shown yet; sweeps expired ones. */
  async put(sessionToken: string, value: T, of = ""): Promise<void> {
    const now = this.now();
    const id = rowId(groupOf(sessionToken, this.kind, of), now);
    const sealed = seal(sessionToken, this.kind, value, of);
    const expiresAt = now + this.ttlMs;
    await this.store.tx(function* (q) {
      const r = q.t.webReveals;
      yield* run(q.db.delete(r).where(lt(r.expiresAt, now)));
      yield* run(q.db.insert(r).values({ idHash: id, sealed, expiresAt }));
    });
  }

  /**
   * Every value waiting for the session's page of `of`, oldest first, once: the rows are deleted
   * as they are read (one statement), so two pages never both show one.
   */
  async take(sessionToken: string, of = ""): Promise<T[]> {
    // The group's id is hex, so the pattern has no wildcard but its own.
    const pattern = `${groupOf(sessionToken, this.kind, of)}.%`;
    // A plain read first: most page views have nothing waiting, and need no write.
    const waiting = await this.store.read((q) => get(q.db.select({ id: q.t.webReveals.idHash }).from(q.t.webReveals).where(like(q.t.webReveals.idHash, pattern)).limit(1)));
    if (!waiting) return [];
    const taken = await this.store.tx((q) => all(q.db.delete(q.t.webReveals).where(like(q.t.webReveals.idHash, pattern)).returning()), { isolation: "read committed" });
    const now = this.now();
    return taken
      .filter((row) => row.expiresAt > now)
      .sort((a, b) => (a.idHash < b.idHash ? -1 : a.idHash > b.idHash ? 1 : 0))
      .map((row) => unseal(sessionToken, this.kind, row.sealed, of) as T | null)
      .filter((v): v is T => v !== null);
  }
}
