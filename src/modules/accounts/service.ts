import { desc, eq, like, or } from "drizzle-orm";
import type { SqliteStore } from "../../store/sqlite-store";
import { accounts } from "../../store/schema";
import { errors } from "../../lib/errors";
import { newId } from "../../lib/ids";
import { microsToUsd } from "../../money/units";
import { audit } from "../audit/service";
import type { AccountViewT, CreateAccountInput, UpdateAccountInput } from "./model";

export type AccountRow = typeof accounts.$inferSelect;

export function getAccountRow(store: SqliteStore, id: string): AccountRow {
  const row = store.db.select().from(accounts).where(eq(accounts.id, id)).get();
  if (!row) throw errors.notFound(`Account ${id}`, "id");
  return row;
}

export function createAccount(store: SqliteStore, input: CreateAccountInput, actor: string, now = Date.now()): AccountRow {
  const row: AccountRow = {
    id: newId("acc"),
    name: input.name,
    email: input.email ?? null,
    plan: input.plan ?? "default",
    status: "active",
    balanceMicros: 0,
    lifetimeTopupMicros: 0,
    createdAt: now,
  };
  store.durable(() => {
    store.db.insert(accounts).values(row).run();
    audit(store, { actor, action: "account.create", targetType: "account", targetId: row.id, after: row }, now);
  });
  return row;
}

export function updateAccount(store: SqliteStore, id: string, input: UpdateAccountInput, actor: string, now = Date.now()): AccountRow {
  return store.durable(() => {
    const before = getAccountRow(store, id);
    const patch = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
    if (Object.keys(patch).length === 0) return before;
    const after = store.db.update(accounts).set(patch).where(eq(accounts.id, id)).returning().get()!;
    audit(store, { actor, action: "account.update", targetType: "account", targetId: id, before: pick(before, patch), after: patch }, now);
    return after;
  });
}

export function listAccounts(store: SqliteStore, q: { limit: number; offset: number; q?: string }): AccountRow[] {
  const pattern = q.q ? `%${q.q.replace(/[%_]/g, "")}%` : undefined;
  return store.db
    .select()
    .from(accounts)
    .where(pattern ? or(like(accounts.name, pattern), like(accounts.email, pattern), like(accounts.id, pattern)) : undefined)
    .orderBy(desc(accounts.createdAt), desc(accounts.id))
    .limit(q.limit)
    .offset(q.offset)
    .all();
}

export function accountView(row: AccountRow, heldMicros: number): AccountViewT {
  const available = row.balanceMicros - heldMicros;
  return {
    id: row.id,
    object: "account",
    name: row.name,
    email: row.email,
    plan: row.plan,
    status: row.status,
    balance_micros: row.balanceMicros,
    held_micros: heldMicros,
    available_micros: available,
    balance_usd: microsToUsd(row.balanceMicros),
    held_usd: microsToUsd(heldMicros),
    available_usd: microsToUsd(available),
    lifetime_topup_micros: row.lifetimeTopupMicros,
    created_at: Math.floor(row.createdAt / 1000),
  };
}

function pick(row: Record<string, unknown>, keys: Record<string, unknown>) {
  return Object.fromEntries(Object.keys(keys).map((k) => [k, row[k]]));
}
