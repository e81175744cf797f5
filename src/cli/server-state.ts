import { besideServe, serveJournal, type BesideServe } from "../money/ledger";
import { leasedHeld } from "../money/pg/lease-sql";
import type { CliContext } from "./command";

/**
 * What a running gateway has that the rows alone do not show, read once per command. SQLite:
 * charges still only in its settlement journal, and the holds it persisted. PostgreSQL: what the
 * instances' live leases last reported held (their holds live in their memory).
 */
export interface ServerState {
  held(accountId: string): number;
  unwritten(accountId: string): number;
}

export async function serverState(ctx: CliContext, accountIds: string[]): Promise<ServerState> {
  if (ctx.shared) {
    const db = await ctx.db();
    const held = await db.read((q) => leasedHeld(q, Date.now()));
    return { held: (id) => held.get(id) ?? 0, unwritten: () => 0 };
  }
  const db = ctx.sqlite();
  return stateOf(db.readSync((q) => besideServe(q, serveJournal(db), accountIds)));
}

const stateOf = (s: BesideServe): ServerState => ({ held: (id) => s.held.get(id) ?? 0, unwritten: (id) => s.unwritten.get(id) ?? 0 });
