import { and, inArray, isNotNull, sql } from "drizzle-orm";
import { all, rows, run, type Q, type Work } from "../../store/work";
import { lockScope, scopeLimit, type Scope, type ScopeLimit } from "./scopes";

/** Below this many of the asked amount left in a scope, a lease is exactly what was asked. */
const EXACT_BELOW = 16;
/** Above it, a lease takes this share of what is left, so that a busy scope is served from memory. */
const SLICE_DIVISOR = 8;

/** A scope too scarce for slices: a lease of it is exactly what was asked (see grantOf). */
export const scarce = (available: number, want: number): boolean => available < EXACT_BELOW * want;

/** What a lease asks for: at least `want`, more when the scope has plenty to spare. */
export function grantOf(available: number, want: number): number {
  if (available <= 0 || want <= 0) return 0;
  if (scarce(available, want)) return Math.min(want, available);
  return Math.max(want, Math.floor(available / SLICE_DIVISOR));
}

export interface Acquired {
  /** What this instance now leases in the scope, in all. */
  leased: number;
  /** What that changed: negative when a lowered limit took part of the lease back. */
  granted: number;
  /** Its previous lease had expired unrenewed (or there was none): only the new one counts. */
  fresh: boolean;
  /** The scope was scarce: exactly what was asked was granted (or the limit fell below the lease). */
  exact: boolean;
  /**
   * What other instances lease of the scope, and any instance of a budget's other periods, beyond
   * what their requests hold (as last reported): theirs to give back.
   */
  idle: number;
  /** What other instances lease of the scope in all, whatever their requests hold. */
  others: number;
  limit: ScopeLimit;
}

/** What an instance asks of a scope (see acquireLease). */
export interface LeaseAsk {
  /** More than its live lease, for the requests waiting. */
  want: number;
  /** What its holds in flight and its draws not committed yet need: never taken back. */
  keep: number;
  /** Asked instead when its lease had expired: its holds in flight are covered first. */
  afresh: number;
}

/**
 * One lease of credit in a scope for an instance, under the scope's lock: what the database
 * allows, less every live lease (other instances' unexpired ones, and this instance's own),
 * granted up to `want` (or a slice of plenty). A pending transfer: settlements draw it down.
 * A lease above what the limit now allows (a lowered cap, a refunded balance) is cut to it,
 * never below `keep`; an expired one is not revived, since others may have leased that credit.
 */
export function* acquireLease(q: Q, scope: Scope, instanceId: string, ask: LeaseAsk, now: number, ttlMs: number): Work<Acquired> {
  yield* lockScope(q, scope.key);
  const limit = yield* scopeLimit(q, scope, now);
  const [l] = yield* rows<{ others: string | number | null; mine: string | number | null; idle: string | number | null }>(sql`
    SELECT sum(amount_micros) FILTER (WHERE instance_id <> ${instanceId}) AS others,
           sum(amount_micros) FILTER (WHERE instance_id = ${instanceId}) AS mine,
           sum(GREATEST(amount_micros - held_micros, 0)) FILTER (WHERE instance_id <> ${instanceId}) AS idle
    FROM credit_leases WHERE scope = ${scope.key} AND expires_at > ${now}`);
  const others = Number(l?.others ?? 0);
  const fresh = l?.mine == null;
  const mine = Number(l?.mine ?? 0);
  const allowed = limit.active ? limit.limit - others : 0;
  let leased: number;
  let exact = true;
  if (fresh) [leased, exact] = [grantOf(allowed, ask.afresh), scarce(allowed, ask.afresh)];
  else if (mine > allowed) leased = Math.max(allowed, Math.min(mine, ask.keep), 0);
  else [leased, exact] = [mine + grantOf(allowed - mine, ask.want), scarce(allowed - mine, ask.want)];
  yield* run(sql`
    INSERT INTO credit_leases (scope, instance_id, amount_micros, held_micros, expires_at)
    VALUES (${scope.key}, ${instanceId}, ${leased}, 0, ${now + ttlMs})
    ON CONFLICT (scope, instance_id) DO UPDATE SET amount_micros = ${leased}, expires_at = ${now + ttlMs}`);
  return { leased, granted: leased - mine, fresh, exact, idle: Number(l?.idle ?? 0) + (limit.idle ?? 0), others, limit };
}

/**
 * Renews the leases this process holds (`held`: scope → what its requests hold there), not every
 * row under its instance id: a previous process's rows under the same id must expire. A lease
 * that expired before its renewal is gone (others may already have taken that credit), so it is
 * deleted and the caller drops it too. Also forgets leases of instances dead for a minute.
 */
export function* renewLeases(q: Q, instanceId: string, held: Map<string, number>, now: number, ttlMs: number): Work<Set<string>> {
  let renewed: { scope: string }[] = [];
  if (held.size > 0) {
    // One statement whatever the number of leases: the scopes as one JSON parameter.
    const mine = JSON.stringify([...held].map(([scope, amount]) => ({ scope, held: amount })));
    renewed = yield* rows<{ scope: string }>(sql`
      UPDATE credit_leases l SET expires_at = ${now + ttlMs}, held_micros = v.held
      FROM json_to_recordset(${mine}::text::json) AS v(scope text, held bigint)
      WHERE l.scope = v.scope AND l.instance_id = ${instanceId} AND l.expires_at > ${now} RETURNING l.scope`);
  }
  yield* run(sql`DELETE FROM credit_leases WHERE instance_id = ${instanceId} AND expires_at <= ${now}`);
  yield* run(sql`DELETE FROM credit_leases WHERE expires_at < ${now - 60_000}`);
  return new Set(renewed.map((r) => r.scope));
}

/**
 * Gives part of a lease back: `give` less (by the change: a settlement committing meanwhile takes
 * its own draw off, whichever comes first), or down `to` a total at most (the whole row when 0;
 * after a give-back that may not have committed, whose change cannot be applied twice). Only ever
 * lowers what is leased, so no lock. Reports what its requests hold now (`held`), as a renewal does.
 */
export function* shrinkLease(q: Q, scopeKey: string, instanceId: string, by: { give: number } | { to: number }, held: number): Work<void> {
  const where = sql`scope = ${scopeKey} AND instance_id = ${instanceId}`;
  if ("give" in by) yield* run(sql`UPDATE credit_leases SET amount_micros = GREATEST(amount_micros - ${by.give}, 0), held_micros = ${held} WHERE ${where}`);
  else if (by.to <= 0) yield* run(sql`DELETE FROM credit_leases WHERE ${where}`);
  else yield* run(sql`UPDATE credit_leases SET amount_micros = LEAST(amount_micros, ${by.to}), held_micros = ${held} WHERE ${where}`);
}

/** Records the instance as alive (for /admin/upstreams and operators). */
export function* heartbeat(q: Q, instanceId: string, host: string, startedAt: number, now: number): Work<void> {
  yield* run(sql`
    INSERT INTO instances (id, host, started_at, seen_at) VALUES (${instanceId}, ${host}, ${startedAt}, ${now})
    ON CONFLICT (id) DO UPDATE SET host = ${host}, started_at = ${startedAt}, seen_at = ${now}`);
}

/** Who else runs under this instance id: its row when seen within `withinMs` (two would share leases). */
export function* liveTwin(q: Q, instanceId: string, host: string, now: number, withinMs: number): Work<{ host: string; seenAt: number } | null> {
  // Two processes starting at once under one id: the second waits here and sees the first.
  yield* lockScope(q, `inst:${instanceId}`);
  const [r] = yield* rows<{ host: string; seen_at: string | number }>(sql`
    SELECT host, seen_at FROM instances WHERE id = ${instanceId} AND host <> ${host} AND seen_at > ${now - withinMs} FOR UPDATE`);
  return r ? { host: r.host, seenAt: Number(r.seen_at) } : null;
}

/** At a graceful stop: the id is free for the next process at once. */
export function* forgetInstance(q: Q, instanceId: string, host: string): Work<void> {
  yield* run(sql`DELETE FROM instances WHERE id = ${instanceId} AND host = ${host}`);
}

/** When a process takes an instance id: the previous holder is gone and cannot settle what it leased. */
export function* forgetLeases(q: Q, instanceId: string): Work<void> {
  yield* run(sql`DELETE FROM credit_leases WHERE instance_id = ${instanceId}`);
}

/**
 * Which of these account scopes are leased above their balance (or whose account is no longer
 * active): a refund or a lost dispute debits a balance without touching the leases on it.
 */
export function* overLeased(q: Q, scopes: readonly string[], now: number): Work<string[]> {
  const found = yield* rows<{ scope: string }>(sql`
    SELECT l.scope FROM credit_leases l JOIN accounts a ON a.id = substr(l.scope, 5)
    WHERE l.scope IN (SELECT json_array_elements_text(${JSON.stringify(scopes)}::text::json)) AND l.expires_at > ${now}
    GROUP BY l.scope, a.balance_micros, a.status
    HAVING sum(l.amount_micros) > a.balance_micros OR a.status <> 'active'`);
  return found.map((r) => r.scope);
}

/** What the live leases of other instances take of a scope (each at least what its requests hold there). */
export function* othersLeased(q: Q, scopeKey: string, instanceId: string, now: number): Work<number> {
  const [l] = yield* rows<{ n: string | number | null }>(sql`
    SELECT sum(amount_micros) AS n FROM credit_leases WHERE scope = ${scopeKey} AND instance_id <> ${instanceId} AND expires_at > ${now}`);
  return Number(l?.n ?? 0);
}

/** What each account's live leases last reported held (renewed every few seconds), for the CLI. */
export function* leasedHeld(q: Q, now: number): Work<Map<string, number>> {
  const found = yield* rows<{ scope: string; held: string | number }>(sql`
    SELECT scope, sum(held_micros) AS held FROM credit_leases WHERE scope LIKE 'acc:%' AND expires_at > ${now} GROUP BY scope`);
  return new Map(found.map((r) => [r.scope.slice(4), Number(r.held)]));
}

/**
 * What other instances' requests hold of these accounts, as their live leases last reported it
 * (renewed every 5 s, and with each give-back): what a page shows beside this instance's holds.
 */
export function* heldByOthers(q: Q, accountIds: readonly string[], instanceId: string, now: number): Work<Map<string, number>> {
  if (accountIds.length === 0) return new Map();
  const scopes = JSON.stringify(accountIds.map((id) => `acc:${id}`));
  const found = yield* rows<{ scope: string; held: string | number }>(sql`
    SELECT scope, sum(held_micros) AS held FROM credit_leases
    WHERE scope IN (SELECT json_array_elements_text(${scopes}::text::json)) AND instance_id <> ${instanceId} AND expires_at > ${now}
    GROUP BY scope`);
  return new Map(found.map((r) => [r.scope.slice(4), Number(r.held)]));
}

/** Which of these deferred requests are settled (charged or released, by any instance). */
export function* settledRequests(q: Q, ids: readonly string[]): Work<string[]> {
  const d = q.t.deferredRequests;
  const found = yield* all(q.db.select({ id: d.requestId }).from(d).where(and(inArray(d.requestId, [...ids]), isNotNull(d.settledAt))));
  return found.map((r) => r.id);
}

/**
 * What other instances' requests in flight hold of these budget owners' budgets (keyOwner,
 * memberOwner), as their live leases last reported it (renewed every few seconds), any period: a
 * hold taken before a period began counts against the new one.
 */
export function* leasedBudgetHolds(q: Q, owners: readonly string[], instanceId: string, now: number): Work<Map<string, number>> {
  if (owners.length === 0) return new Map();
  // A budget scope is `bud:<owner>:<period start>`, and an owner `key:<id>` or `member:<id>`.
  const found = yield* rows<{ owner: string; held: string | number }>(sql`
    SELECT split_part(scope, ':', 2) || ':' || split_part(scope, ':', 3) AS owner, sum(held_micros) AS held FROM credit_leases
    WHERE starts_with(scope, 'bud:') AND instance_id <> ${instanceId} AND expires_at > ${now}
      AND split_part(scope, ':', 2) || ':' || split_part(scope, ':', 3) IN (SELECT json_array_elements_text(${JSON.stringify(owners)}::text::json))
    GROUP BY 1`);
  return new Map(found.map((r) => [r.owner, Number(r.held)]));
}
