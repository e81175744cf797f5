import { inArray, sql } from "drizzle-orm";
import { increment } from "../../lib/tally";
import { all, rows, run, type Q, type Work } from "../../store/work";
import type { BudgetClock } from "../budget-clock";
import { ownersOf } from "../budgets";
import { LINE_HOPS } from "../../gateway/key-row";
import type { SettleExtras, SettleResult, StoredObjectRow, UsageRecord } from "../credit-store";
import { storedRows } from "../settle-writer";
import { lockScope } from "./scopes";

/** One settlement or release of a PostgreSQL credit store's group commit. */
export interface PgSettleOp {
  t: "settle" | "release";
  requestId: string;
  accountId: string;
  keyId: string | null;
  capKeyId: string | null;
  memberId: string | null;
  /** The hold. */
  amount: number;
  charge: number;
  /** Whether the id was generated for this request (it cannot have been charged before). */
  freshId: boolean;
  /** The lease scopes the hold was taken from; each is drawn down by max(hold, charge). */
  scopes: string[];
  extras?: SettleExtras;
  at: number;
}

/**
 * One group of settlements as one transaction: the scopes' locks (in order, so two groups never
 * deadlock), the ledger entries (one per request id, across every instance: ids already charged
 * are skipped), the usage rows, each account's balance, each key line's spend, each budget day
 * and each lease drawn once. Returns what each operation charged and released.
 */
export function* settleGroup(q: Q, ops: readonly PgSettleOp[], instanceId: string, clock: BudgetClock, heldIn: (scope: string) => number): Work<SettleResult[]> {
  // The account's lock too: a charge without a hold (scopes empty) still serialises with its account's.
  const scopes = [...new Set(ops.flatMap((o) => [...o.scopes, `acc:${o.accountId}`]))].sort();
  for (const s of scopes) yield* lockScope(q, s);
  const charged = yield* alreadyCharged(q, ops);
  const debits = new Map<string, number>();
  const results = ops.map((op): SettleResult => {
    const charge = op.t === "settle" && !charged.has(op.requestId) ? op.charge : 0;
    if (charge > 0) increment(debits, op.accountId, charge);
    return { charged: charge, released: Math.max(0, op.amount - charge) };
  });
  const balances = yield* debitAccounts(q, debits);
  yield* writeLedger(q, ops, results, balances);
  yield* writeUsage(q, ops);
  yield* addSpend(q, ops, results, clock);
  yield* drawLeases(q, ops, results, instanceId, heldIn);
  return results;
}

function* alreadyCharged(q: Q, ops: readonly PgSettleOp[]): Work<Set<string>> {
  const reused = ops.filter((o) => o.t === "settle" && o.charge > 0 && !o.freshId).map((o) => o.requestId);
  if (reused.length === 0) return new Set();
  const l = q.t.ledgerEntries;
  const found = yield* all(q.db.select({ id: l.requestId }).from(l).where(inArray(l.requestId, reused)));
  return new Set(found.map((r) => r.id!));
}

/** Debits each account once, in id order; returns each balance before the debit. */
function* debitAccounts(q: Q, debits: Map<string, number>): Work<Map<string, number>> {
  const before = new Map<string, number>();
  for (const [id, d] of [...debits].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const [r] = yield* rows<{ b: string | number }>(sql`UPDATE accounts SET balance_micros = balance_micros - ${d} WHERE id = ${id} RETURNING balance_micros AS b`);
    if (r) before.set(id, Number(r.b) + d);
  }
  return before;
}

/** The charges' ledger entries, each with the balance after it as if charged one by one. */
function* writeLedger(q: Q, ops: readonly PgSettleOp[], results: SettleResult[], before: Map<string, number>): Work<void> {
  const running = new Map(before);
  const values = ops.flatMap((op, i) => {
    const charge = results[i]!.charged;
    if (charge <= 0) return [];
    const after = (running.get(op.accountId) ?? 0) - charge;
    running.set(op.accountId, after);
    return [{
      account_id: op.accountId, kind: "charge", amount_micros: -charge, balance_after_micros: after,
      request_id: op.requestId, key_id: op.keyId, note: op.extras?.note ?? null, created_at: op.at,
    }];
  });
  if (values.length) yield* insertRows(q, "ledger_entries", LEDGER_COLUMNS, values);
}

/** The usage rows, and the objects the upstream stored for these requests (Responses and their items), with their owners. */
function* writeUsage(q: Q, ops: readonly PgSettleOp[]): Work<void> {
  const values = ops.flatMap((op) => (op.extras?.usage ? [usageValues(op.extras.usage)] : []));
  if (values.length) yield* insertRows(q, "usage_log", USAGE_COLUMNS, values);
  const objects = ops.flatMap((op) => (op.extras ? storedRows(op.extras).map(objectValues) : []));
  if (objects.length) yield* insertRows(q, "upstream_objects", OBJECT_COLUMNS, objects);
}

const OBJECT_COLUMNS = ["id", "kind", "account_id", "key_id", "target", "model", "tokens", "charge_micros", "created_at", "response_id"] as const;
const objectValues = (o: StoredObjectRow): Record<string, unknown> => ({
  id: o.id, kind: o.kind, account_id: o.accountId, key_id: o.keyId, target: o.target, model: o.model, tokens: o.tokens, charge_micros: o.chargeMicros, created_at: o.createdAt,
  response_id: o.responseId ?? null,
});

const LEDGER_COLUMNS = ["account_id", "kind", "amount_micros", "balance_after_micros", "request_id", "key_id", "note", "created_at"] as const;
const USAGE_COLUMNS = [
  "request_id", "account_id", "key_id", "model", "stream", "status", "prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens",
  "cost_micros", "estimated", "latency_ms", "ttft_ms", "upstream_request_id", "error_code", "created_at", "endpoint", "upstream", "overage_micros",
  "upstream_cost_micros",
] as const;

/**
 * A group's rows as one JSON parameter that PostgreSQL expands (json_populate_recordset): one
 * statement whatever the group's size, and no per-value query building on the request path.
 */
function* insertRows(q: Q, table: string, columns: readonly string[], values: readonly Record<string, unknown>[]): Work<void> {
  void q;
  const list = sql.raw(columns.join(", "));
  yield* run(sql`INSERT INTO ${sql.raw(table)} (${list}) SELECT ${list} FROM json_populate_recordset(null::${sql.raw(table)}, ${JSON.stringify(values)}::text::json) ON CONFLICT DO NOTHING`);
}

/**
 * Each key line's spend and each budget owner's day, once per group. A hold names the line's key
 * as it was when taken; the line may have been rotated since (on any instance), so the spend goes
 * to its newest key, which carries the line's spend and budget from the rotation on.
 */
function* addSpend(q: Q, ops: readonly PgSettleOp[], results: SettleResult[], clock: BudgetClock): Work<void> {
  const keys = new Map<string, number>();
  ops.forEach((op, i) => {
    const key = op.capKeyId ?? op.keyId;
    if (key && results[i]!.charged > 0) increment(keys, key, results[i]!.charged);
  });
  const newest = new Map<string, string>();
  for (const [id, c] of [...keys].sort()) {
    const [r] = yield* rows<{ id: string }>(sql`WITH RECURSIVE line(id, next, hops) AS (
        SELECT id, rotated_to, 0 FROM api_keys WHERE id = ${id}
        UNION ALL SELECT k.id, k.rotated_to, line.hops + 1 FROM api_keys k JOIN line ON k.id = line.next WHERE line.hops < ${LINE_HOPS})
      UPDATE api_keys SET spent_micros = spent_micros + ${c} WHERE id = COALESCE((SELECT id FROM line WHERE next IS NULL LIMIT 1), ${id}) RETURNING id`);
    if (r) newest.set(id, r.id);
  }
  const days = new Map<string, number>();
  ops.forEach((op, i) => {
    const c = results[i]!.charged;
    if (c <= 0) return;
    const key = op.capKeyId ?? op.keyId;
    const line = key ? (newest.get(key) ?? key) : null;
    const day = clock.dayStart(op.at);
    for (const owner of ownersOf({ ...op, capKeyId: line })) increment(days, `${owner} ${day}`, c);
  });
  for (const [k, c] of [...days].sort()) {
    const [owner, day] = k.split(" ");
    yield* run(sql`INSERT INTO budget_spend (owner, day, spent_micros) VALUES (${owner}, ${Number(day)}, ${c})
      ON CONFLICT (owner, day) DO UPDATE SET spent_micros = budget_spend.spent_micros + excluded.spent_micros`);
  }
}

/**
 * Each lease the holds came from gives up max(hold, charge): spent, or back to its scope. It also
 * reports what this instance's requests hold there now (`heldIn`, read as the statement is made),
 * as a renewal does: another instance's page stops showing a finished request's hold at once.
 */
function* drawLeases(q: Q, ops: readonly PgSettleOp[], results: SettleResult[], instanceId: string, heldIn: (scope: string) => number): Work<void> {
  const draws = new Map<string, number>();
  ops.forEach((op, i) => {
    for (const s of op.scopes) increment(draws, s, Math.max(op.amount, results[i]!.charged));
  });
  for (const [scope, d] of [...draws].sort()) {
    yield* run(sql`UPDATE credit_leases SET amount_micros = GREATEST(amount_micros - ${d}, 0), held_micros = ${heldIn(scope)}
      WHERE scope = ${scope} AND instance_id = ${instanceId}`);
  }
}

function usageValues(u: UsageRecord): Record<string, unknown> {
  return {
    request_id: u.requestId, account_id: u.accountId, key_id: u.keyId, model: u.model, stream: u.stream, status: u.status,
    prompt_tokens: u.promptTokens, cached_tokens: u.cachedTokens, completion_tokens: u.completionTokens, reasoning_tokens: u.reasoningTokens,
    cost_micros: u.costMicros, estimated: u.estimated, latency_ms: u.latencyMs, ttft_ms: u.ttftMs, upstream_request_id: u.upstreamRequestId,
    error_code: u.errorCode, created_at: u.createdAt, endpoint: u.endpoint ?? "chat.completions", upstream: u.upstream ?? null,
    overage_micros: u.overageMicros ?? 0, upstream_cost_micros: u.upstreamCostMicros ?? null,
  };
}
