import { and, eq } from "drizzle-orm";
import { sha256Hex } from "../lib/crypto";
import { errors } from "../lib/errors";
import { get, run, type Q, type Work } from "../store/work";

/**
 * Runs `work` once per (scope, key): a repeat with the same body replays the stored result, a
 * repeat with another body is a 409. Part of the unit of work that does the work, so that the
 * result and its record commit together (a failed request does not burn its key).
 *
 * The key is claimed before the work (ON CONFLICT DO NOTHING): of two concurrent requests with
 * one key, only the one that claimed it does the work; the other waits for it on the unique
 * index and replays its result (PostgreSQL re-runs the loser's unit of work after the winner's
 * commit, SQLite's single writer runs them one after the other).
 */
export function* once<T>(
  q: Q,
  scope: string,
  key: string | undefined,
  body: unknown,
  work: () => Work<T>,
  now = Date.now(),
): Work<{ result: T; replayed: boolean }> {
  if (!key) return { result: yield* work(), replayed: false };
  const t = q.t.idempotencyKeys;
  const bodyHash = sha256Hex(JSON.stringify(body));
  const mine = and(eq(t.scope, scope), eq(t.key, key));
  const claimed = yield* run(q.db.insert(t).values({ scope, key, bodyHash, status: 200, response: "", createdAt: now }).onConflictDoNothing());
  if (claimed.changes === 0) {
    const prior = yield* get(q.db.select().from(t).where(mine));
    if (prior!.bodyHash !== bodyHash) {
      throw errors.conflict("This Idempotency-Key was already used with a different request body.", "idempotency_key_reused");
    }
    return { result: JSON.parse(prior!.response) as T, replayed: true };
  }
  const result = yield* work();
  yield* run(q.db.update(t).set({ response: JSON.stringify(result) }).where(mine));
  return { result, replayed: false };
}
