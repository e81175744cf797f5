import { sql } from "drizzle-orm";
import { rows, type Q, type Work } from "../../store/work";
import type { BudgetClock } from "../budget-clock";
import { keyOwner, memberOwner, type BudgetRule } from "../budgets";
import { LINE_HOPS } from "../../gateway/key-row";

/**
 * A credit scope: something a hold counts against and that the database bounds: an account's
 * balance, a key line's spending cap, or a budget in its current period. Instances lease credit
 * per scope (credit_leases), so every scope a hold draws on must be leased.
 */
export type Scope =
  | { kind: "acc"; key: string; accountId: string }
  | { kind: "cap"; key: string; keyId: string; cap: number }
  | { kind: "bud"; key: string; owner: string; who: "key" | "member"; id: string; rule: BudgetRule; periodStart: number; resetsAt: number }
  /** Concurrency slots of a rate-limit level: leased like credit, but returned when requests end. */
  | { kind: "conc"; key: string; slots: number };

export const accountScope = (accountId: string): Scope => ({ kind: "acc", key: `acc:${accountId}`, accountId });
export const capScope = (keyId: string, cap: number): Scope => ({ kind: "cap", key: `cap:${keyId}`, keyId, cap });

/** A budget in the period containing `now`: a new period is a new scope (its leases start at zero). */
export function budgetScope(who: "key" | "member", id: string, rule: BudgetRule, clock: BudgetClock, now: number): Scope {
  const owner = who === "key" ? keyOwner(id) : memberOwner(id);
  const periodStart = clock.periodStart(rule.period, now);
  return { kind: "bud", key: `bud:${owner}:${periodStart}`, owner, who, id, rule, periodStart, resetsAt: clock.periodEnd(rule.period, now) };
}

/** What the database says of a scope: how much it allows in all (before leases), and what was spent. */
export interface ScopeLimit {
  limit: number;
  /** The account's balance, the key line's spend, or the budget's spend in its period. */
  spent: number;
  active: boolean;
  /** A budget: what the leases of its owner's other periods lease beyond their holds (counted in `limit` until given back). */
  idle?: number;
}

/**
 * The scope's limit, read under its lock when leasing (the caller holds the scope's advisory lock,
 * which settlements take too, so the limit and the leases are read together; a page's read takes
 * none). `now` tells which leases of a budget's earlier periods are still live.
 */
export function* scopeLimit(q: Q, s: Scope, now: number): Work<ScopeLimit> {
  if (s.kind === "conc") return { limit: s.slots, spent: 0, active: true };
  if (s.kind === "acc") {
    const [a] = yield* rows<{ b: string | number; status: string }>(sql`SELECT balance_micros AS b, status FROM accounts WHERE id = ${s.accountId}`);
    return a ? { limit: Number(a.b), spent: 0, active: a.status === "active" } : { limit: 0, spent: 0, active: false };
  }
  if (s.kind === "cap") return yield* capLimit(q, s, now);
  return yield* budgetLimit(q, s, now);
}

/**
 * The keys rotated into `keyId`, one rotation back or more (a CTE `line(id)`): their requests in
 * flight hold credit of their own key's scopes, which counts against the line's newest key.
 */
const earlierKeys = (keyId: string) => sql`line(id, hops) AS (
    SELECT id, 1 FROM api_keys WHERE account_id = (SELECT account_id FROM api_keys WHERE id = ${keyId}) AND rotated_to = ${keyId}
    UNION ALL SELECT k.id, line.hops + 1 FROM api_keys k JOIN line ON k.rotated_to = line.id WHERE line.hops < ${LINE_HOPS})`;

/**
 * A key line's cap: the cap less the line's spend (both on the newest key), less what live leases
 * of the line's earlier keys take (at least their requests' holds): a rotation leaves those on the
 * old key's scope. A rotated key's own scope grants nothing more (its limit is 0: it keeps what its
 * holds need): only the newest key's grants, under its lock, so the line's leases never sum above
 * the cap. One statement: a settlement moves a charge from such a lease to the spend in one commit.
 */
function* capLimit(q: Q, s: Extract<Scope, { kind: "cap" }>, now: number): Work<ScopeLimit> {
  void q;
  const [k] = yield* rows<{ cap: string | number | null; spent: string | number; rotated: boolean; earlier: string | number | null }>(sql`
    WITH RECURSIVE ${earlierKeys(s.keyId)}
    SELECT spend_cap_micros AS cap, spent_micros AS spent, rotated_to IS NOT NULL AS rotated,
      (SELECT sum(GREATEST(amount_micros, held_micros)) FROM credit_leases WHERE scope IN (SELECT 'cap:' || id FROM line) AND expires_at > ${now}) AS earlier
    FROM api_keys WHERE id = ${s.keyId}`);
  if (!k) return { limit: 0, spent: 0, active: false };
  const spent = Number(k.spent);
  if (k.rotated) return { limit: 0, spent, active: true };
  return { limit: k.cap === null ? Number.MAX_SAFE_INTEGER : Number(k.cap) - spent - Number(k.earlier ?? 0), spent, active: true };
}

/**
 * A budget's period: its rule less what it spent, less what live leases of the owner's other
 * periods (an ended one, or one of a rule since changed) still lease. Holds taken there are charged
 * on the day they settle, so they count against this period, as every hold in flight does on
 * SQLite; what those leases hold beyond them is `idle`, asked back (LeaseBook.wanted) when this
 * period is short. A key line's budget also counts its earlier keys' live leases (a rotation
 * leaves them there), and a rotated key's grants nothing more, as its cap (capLimit). One
 * statement: a settlement moves its charge from such a lease to the spend in one commit, seen
 * whole or not at all.
 */
function* budgetLimit(q: Q, s: Extract<Scope, { kind: "bud" }>, now: number): Work<ScopeLimit> {
  void q;
  const [key, own] = [s.who === "key" ? s.id : "", `bud:${s.owner}:`];
  const [r] = yield* rows<{ spent: string | number | null; earlier: string | number | null; idle: string | number | null; line: string | number | null; rotated: boolean | null }>(sql`
    WITH RECURSIVE ${earlierKeys(key)}
    SELECT (SELECT sum(spent_micros) FROM budget_spend WHERE owner = ${s.owner} AND day >= ${s.periodStart}) AS spent, l.earlier, l.idle, l.line,
      (SELECT rotated_to IS NOT NULL FROM api_keys WHERE id = ${key}) AS rotated
    FROM (SELECT sum(amount_micros) FILTER (WHERE own) AS earlier, sum(GREATEST(amount_micros - held_micros, 0)) FILTER (WHERE own) AS idle,
                 sum(GREATEST(amount_micros, held_micros)) FILTER (WHERE NOT own) AS line
          FROM (SELECT amount_micros, held_micros, starts_with(scope, ${own}) AS own FROM credit_leases c WHERE scope <> ${s.key} AND expires_at > ${now}
                AND (starts_with(scope, ${own}) OR EXISTS (SELECT 1 FROM line WHERE starts_with(c.scope, 'bud:key:' || line.id || ':')))) c) l`);
  const spent = Number(r?.spent ?? 0);
  if (r?.rotated) return { limit: 0, spent, active: true, idle: 0 };
  return { limit: s.rule.micros - spent - Number(r?.earlier ?? 0) - Number(r?.line ?? 0), spent, active: true, idle: Number(r?.idle ?? 0) };
}

/** Takes the scope's lock for the rest of the transaction (settlements and lease changes alike). */
export function* lockScope(q: Q, key: string): Work<void> {
  void q;
  yield* rows(sql`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`);
}

/**
 * A key's line, for the transactions that change its scopes' leases (shared: they run together)
 * against its rotation (exclusive): a grant of the old key's scopes made before the rotation is
 * committed before the new key's scopes can be leased, and counted there (capLimit, budgetLimit).
 */
export function* lockKeyLine(q: Q, keyId: string, mode: "shared" | "exclusive"): Work<void> {
  void q;
  const key = `line:${keyId}`;
  if (mode === "shared") yield* rows(sql`SELECT pg_advisory_xact_lock_shared(hashtextextended(${key}, 0))`);
  else yield* rows(sql`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`);
}

/** What bounds a scope besides the database (a cap, a budget's rule, a slot count): a change asks for a check. */
export function scopeBound(s: Scope): string | number {
  if (s.kind === "cap") return s.cap;
  if (s.kind === "bud") return `${s.rule.micros}/${s.rule.period}`;
  return s.kind === "conc" ? s.slots : 0;
}
