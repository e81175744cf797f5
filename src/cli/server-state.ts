import { inArray } from "drizzle-orm";
import { besideServe, serveJournal, type BesideServe } from "../money/ledger";
import { leasedHeld } from "../money/pg/lease-sql";
import { accountView, type AccountRow } from "../modules/accounts/service";
import type { AccountViewT } from "../modules/accounts/model";
import { chunks } from "../modules/usage/query";
import type { SqliteStore } from "../store/sqlite-store";
import { all, type Q, type Work } from "../store/work";
import type { CliContext } from "./command";

/**
 * What a running gateway has that the rows alone do not show. SQLite: charges still only in its
 * settlement journal, and the holds it persisted. PostgreSQL: what the instances' live leases last
 * reported held (their holds live in their memory).
 */
export interface ServerState {
  held(accountId: string): number;
  unwritten(accountId: string): number;
}

/** Reads the server's state of `accountIds` inside a transaction the command runs itself (a credit). */
export type StateWork = (q: Q, accountIds: string[]) => Work<ServerState>;

/**
 * The accounts of `rows` as the gateway has them. On SQLite their balances are read again, in one
 * read transaction with the ledger and the hold rows, after the journal (see besideServe): a batch
 * the gateway writes during the command is then counted once. `rows` only say which accounts, and
 * the rest of each.
 */
export async function accountViews(ctx: CliContext, rows: AccountRow[]): Promise<AccountViewT[]> {
  if (ctx.shared) {
    const state = await leased(ctx);
    return rows.map((r) => accountView(r, state));
  }
  const db = ctx.sqlite();
  const ids = rows.map((r) => r.id);
  const records = serveJournal(db);
  const { balances, state } = readSnapshot(db, function* (q) {
    return { balances: yield* balancesOf(q, ids), state: stateOf(yield* besideServe(q, records, ids)) };
  });
  return rows.map((r) => accountView({ ...r, balanceMicros: balances.get(r.id) ?? r.balanceMicros }, state));
}

/** accountViews of one account. */
export const accountViewNow = async (ctx: CliContext, row: AccountRow): Promise<AccountViewT> => (await accountViews(ctx, [row]))[0]!;

/**
 * How a command reads the server's state inside its own transaction: on SQLite the journal is read
 * there, where no batch of the gateway can land; on PostgreSQL the leases are read before.
 */
export async function serverStateWork(ctx: CliContext): Promise<StateWork> {
  if (ctx.shared) {
    const state = await leased(ctx);
    return function* () {
      return state;
    };
  }
  const db = ctx.sqlite();
  return function* (q, ids) {
    return stateOf(yield* besideServe(q, serveJournal(db), ids));
  };
}

async function leased(ctx: CliContext): Promise<ServerState> {
  const db = await ctx.db();
  const held = await db.read((q) => leasedHeld(q, Date.now()));
  return { held: (id) => held.get(id) ?? 0, unwritten: () => 0 };
}

const stateOf = (s: BesideServe): ServerState => ({ held: (id) => s.held.get(id) ?? 0, unwritten: (id) => s.unwritten.get(id) ?? 0 });

/** Runs `work` as one read transaction: every statement sees the database as of the same moment. */
function readSnapshot<T>(db: SqliteStore, work: (q: Q) => Work<T>): T {
  return db.sqlite.transaction(() => db.readSync(work)).deferred();
}

function* balancesOf(q: Q, ids: string[]): Work<Map<string, number>> {
  const a = q.t.accounts;
  const found = new Map<string, number>();
  for (const part of chunks(ids)) {
    const rows = yield* all(q.db.select({ id: a.id, balance: a.balanceMicros }).from(a).where(inArray(a.id, part)));
    for (const r of rows) found.set(r.id, Number(r.balance));
  }
  return found;
}
