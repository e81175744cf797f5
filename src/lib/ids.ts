const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Random bytes drawn in blocks: one getRandomValues call serves many ids on the request path. */
const pool = new Uint8Array(4096);
let used = pool.length;

/** Uniform base62 string from crypto randomness (rejection sampling avoids modulo bias). */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    if (used === pool.length) {
      crypto.getRandomValues(pool);
      used = 0;
    }
    const b = pool[used++]!;
    if (b < 248) out += ALPHABET[b % 62];
  }
  return out;
}

export type IdPrefix = "acc" | "key" | "req" | "led" | "aud" | "inv" | "code" | "pay" | "ses" | "sup" | "mem";

export const newId = (prefix: IdPrefix, length = 20): string => `${prefix}_${randomBase62(length)}`;

/**
 * Like newId, but the first 8 characters encode the time in milliseconds (base62 in ASCII order,
 * so ids sort by creation), then 12 random ones (71 bits). Rows keyed by such ids (usage log,
 * ledger) append to the right edge of their B-trees instead of touching a random page each:
 * several times fewer pages written per commit on the request path.
 */
export function newSortableId(prefix: IdPrefix): string {
  const now = Date.now();
  if (now !== stampedAt) {
    stampedAt = now;
    let t = now;
    let time = "";
    for (let i = 0; i < 8; i++) {
      time = ALPHABET[t % 62] + time;
      t = Math.floor(t / 62);
    }
    stamp = time;
  }
  return `${prefix}_${stamp}${randomBase62(12)}`;
}

/** The time part of the last id, reused while the millisecond is the same. */
let stampedAt = -1;
let stamp = "";
