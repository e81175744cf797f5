import { and, desc, gt, lt, or } from "drizzle-orm";
import { errors } from "../../lib/errors";
import type { Store } from "../../store/store";
import { all, type Q, type Work } from "../../store/work";
import { accountNames, bytewise, keyNames, rowsWhere } from "../usage/query";
import { forEachSlice } from "../usage/slices";
import type { LossesQueryT, LossRowT } from "./model";
import { marginFilter, type MarginFilter } from "./service";

type Cursor = { at: number; id: string } | null;

/** Up to `limit` rows of `f` charged less than their upstream cost, newest first, after the cursor. */
function* lossRows(q: Q, f: MarginFilter, cursor: Cursor, limit: number) {
  const t = q.t.usageLog;
  const after = cursor ? or(lt(t.createdAt, cursor.at), lt(bytewise(q, t.requestId), cursor.id)) : undefined;
  return yield* all(
    q.db
      .select({
        request_id: t.requestId, created_at: t.createdAt, account_id: t.accountId, key_id: t.keyId, model: t.model, endpoint: t.endpoint,
        upstream: t.upstream, status: t.status, cost_micros: t.costMicros, upstream_cost_micros: t.upstreamCostMicros, overage_micros: t.overageMicros,
      })
      .from(t)
      .where(and(rowsWhere(t, f), gt(t.upstreamCostMicros, t.costMicros), after))
      .orderBy(desc(t.createdAt), desc(bytewise(q, t.requestId)))
      .limit(limit),
  );
}

type LossRaw = Awaited<ReturnType<typeof lossRows> extends Work<infer T> ? T : never>[number];

/** The names of the accounts and keys of a page of losses. */
function* names(q: Q, page: LossRaw[]): Work<{ accounts: Map<string, string>; keys: Map<string, string> }> {
  const accounts = yield* accountNames(q, [...new Set(page.map((r) => r.account_id))]);
  const keys = yield* keyNames(q, [...new Set(page.flatMap((r) => (r.key_id ? [r.key_id] : [])))]);
  return { accounts, keys };
}

/** Requests charged less than their upstream cost, newest first; the cursor is "<created_at>:<request_id>". */
export async function losses(store: Store, q: LossesQueryT): Promise<{ rows: LossRowT[]; nextCursor: string | null }> {
  const f = marginFilter(q);
  const m = q.before ? /^(\d+):(.+)$/.exec(q.before) : null;
  if (q.before && !m) throw errors.badRequest("Not a cursor from a previous page.", "before");
  const cursor: Cursor = m ? { at: Number(m[1]), id: m[2]! } : null;
  // The cursor's millisecond is visited again (its other rows), then skipped by request id.
  if (cursor) f.to = Math.min(f.to ?? Infinity, cursor.at + 1);
  const found: LossRaw[] = [];
  await forEachSlice(store, f, function* (tx, slice) {
    found.push(...(yield* lossRows(tx, slice, cursor, q.limit + 1 - found.length)));
    return found.length <= q.limit;
  });
  const page = found.slice(0, q.limit);
  const last = found.length > q.limit ? page[page.length - 1]! : null;
  const { accounts, keys } = await store.read((tx) => names(tx, page));
  return {
    rows: page.map((r) => ({
      object: "loss" as const, ...r, upstream_cost_micros: r.upstream_cost_micros!, created_at: Math.floor(r.created_at / 1000),
      account_name: accounts.get(r.account_id) ?? null, key_name: r.key_id ? (keys.get(r.key_id) ?? null) : null,
      loss_micros: r.upstream_cost_micros! - r.cost_micros,
    })),
    nextCursor: last ? `${last.created_at}:${last.request_id}` : null,
  };
}
