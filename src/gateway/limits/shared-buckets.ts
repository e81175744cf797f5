import { sql } from "drizzle-orm";
import { rows, run, type Q, type Work } from "../../store/work";
import { type Bucket, capacity, refill } from "./bucket";
import type { LevelState } from "./levels";

/**
 * Takes up to `want` units from a bucket shared by every instance (refilled continuously at
 * `perMinute`, full when new), under its row lock; returns what was taken and what is left.
 * Instances' clocks may differ a little: a clock behind the row's never refills it backwards.
 */
export function* takeFromBucket(q: Q, id: string, perMinute: number, want: number, now: number): Work<{ taken: number; left: number }> {
  const cap = capacity(perMinute);
  yield* run(sql`INSERT INTO ratelimit_shared (id, level, per_minute, updated_at) VALUES (${id}, ${cap}, ${perMinute}, ${now}) ON CONFLICT (id) DO NOTHING`);
  const [r] = yield* rows<{ level: string | number; at: string | number }>(sql`SELECT level, updated_at AS at FROM ratelimit_shared WHERE id = ${id} FOR UPDATE`);
  const b = { level: Number(r!.level), at: Number(r!.at), perMinute };
  refill(b, perMinute, Math.max(now, b.at));
  const taken = Math.max(0, Math.min(want, b.level));
  b.level -= taken;
  yield* run(sql`UPDATE ratelimit_shared SET level = ${b.level}, per_minute = ${perMinute}, updated_at = ${b.at} WHERE id = ${id}`);
  return { taken, left: b.level };
}

/** Gives units back to a shared bucket (never above its capacity). */
export function* giveToBucket(q: Q, id: string, perMinute: number, units: number): Work<void> {
  void q;
  yield* run(sql`UPDATE ratelimit_shared SET level = LEAST(${capacity(perMinute)}, level + ${units}) WHERE id = ${id}`);
}

/** A shared bucket as this instance knows it: what was left there when last taken from. */
export interface Shared {
  /** The limit the entry was made for (a plan change: the next take uses the new one). */
  perMinute: number;
  left: number;
  /** When `left` was read (it refills from then on). */
  leftAt: number;
  usedAt: number;
  /** Units wanted by requests waiting for a batch. */
  demand: number;
  /** Units promised to requests that prepared and are not admitted yet. */
  promised: number;
  inflight: Promise<boolean> | null;
}

/** What a shared bucket holds now as far as this instance knows (one never taken from is full). */
export function leftNow(s: Shared | undefined, perMinute: number, now: number): number {
  if (!s) return capacity(perMinute);
  const missing = capacity(perMinute) - s.left;
  return missing <= 0 || now - s.leftAt >= Math.ceil(missing / perMinute) ? capacity(perMinute) : s.left + Math.max(0, now - s.leftAt) * perMinute;
}

/**
 * A level as answers report it: this instance's grant and what the shared buckets hold now as far
 * as it knows (refilled since it last saw them, full when never seen), never above a bucket's capacity.
 */
export function withShared(st: LevelState, shared: ReadonlyMap<string, Shared>, now: number): LevelState {
  const { rpm, tpm } = st.level.limits;
  const at = (held: number, id: string, perMinute: number) => Math.min(capacity(perMinute), held + leftNow(shared.get(id), perMinute, now));
  return {
    level: st.level,
    req: { ...st.req, level: at(st.req.level, st.level.r, rpm) },
    tok: { ...st.tok, level: at(st.tok.level, st.level.t, tpm) },
  };
}

/** What shared buckets (id, per minute) hold now, read without taking (one never taken from is full). */
export function* readBuckets(q: Q, dims: readonly (readonly [string, number])[], now: number): Work<number[]> {
  void q;
  const out: number[] = [];
  for (const [id, perMinute] of dims) {
    const [r] = yield* rows<{ level: string | number; at: string | number }>(sql`SELECT level, updated_at AS at FROM ratelimit_shared WHERE id = ${id}`);
    out.push(r ? refill({ level: Number(r.level), at: Number(r.at), perMinute }, perMinute, Math.max(now, Number(r.at))).level : capacity(perMinute));
  }
  return out;
}

/** An entry nothing waits on, unused since `idleSince`, its grant given back (`held` 0) and its bucket full again: as good as never seen. */
export const forgettable = (s: Shared, held: number, idleSince: number, now: number): boolean =>
  s.demand === 0 && s.promised === 0 && !s.inflight && held === 0 && s.usedAt <= idleSince && leftNow(s, s.perMinute, now) >= capacity(s.perMinute);

/** Takes out of (−1) or puts back into (+1) the grants what is promised to requests still preparing: admission decides on the rest. */
export function shiftPromised(buckets: ReadonlyMap<string, Bucket>, shared: ReadonlyMap<string, Shared>, ids: readonly string[], sign: 1 | -1): void {
  for (const id of new Set(ids)) {
    const b = buckets.get(id);
    const d = shared.get(id)?.promised ?? 0;
    if (b && d) b.level += sign * d;
  }
}
