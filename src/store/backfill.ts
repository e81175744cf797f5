import type { Database } from "bun:sqlite";

/**
 * Data steps a generated migration cannot express, run after the migrations at every start;
 * each is idempotent and costs one indexed read when there is nothing left to do.
 *
 * Teams: every dashboard login of the time before teams becomes its account's owner member, with
 * the same email, password and last sign-in, so that it keeps working. Its sessions (no member)
 * and its keys (no member) are the owner's by definition.
 */
export function backfill(sqlite: Database): number {
  const pending = sqlite
    .query<{ one: number }, []>(
      "SELECT 1 AS one FROM account_logins l WHERE NOT EXISTS (SELECT 1 FROM account_members m WHERE m.account_id = l.account_id AND m.role = 'owner') LIMIT 1",
    )
    .get();
  if (!pending) return 0;
  return sqlite.transaction(() =>
    sqlite
      .query(
        `INSERT INTO account_members (id, account_id, email, role, password_hash, last_login_at, created_at, updated_at)
         SELECT 'mem_' || lower(hex(randomblob(10))), l.account_id, l.email, 'owner', l.password_hash, l.last_login_at, l.created_at, l.updated_at
         FROM account_logins l
         WHERE NOT EXISTS (SELECT 1 FROM account_members m WHERE m.account_id = l.account_id AND m.role = 'owner')`,
      )
      .run().changes,
  ).immediate();
}
