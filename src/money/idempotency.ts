import { and, eq } from "drizzle-orm";
import type { SqliteStore } from "../store/sqlite-store";
import { idempotencyKeys } from "../store/schema";
import { sha256Hex } from "../lib/crypto";
import { errors } from "../lib/errors";

/**
 * Runs `fn` once per (scope, key): a repeat with the same body replays the stored result, a
 * repeat with another body is a 409. Call inside the write transaction that does the work, so
 * that the result and its record commit together.
 */
export function once<T>(
  store: SqliteStore,
  scope: string,
  key: string | undefined,
  body: unknown,
  fn: () => T,
  now = Date.now(),
): { result: T; replayed: boolean } {
  if (!key) return { result: fn(), replayed: false };
  const bodyHash = sha256Hex(JSON.stringify(body));
  const prior = store.db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)))
    .get();
  if (prior) {
    if (prior.bodyHash !== bodyHash) {
      throw errors.conflict("This Idempotency-Key was already used with a different request body.", "idempotency_key_reused");
    }
    return { result: JSON.parse(prior.response) as T, replayed: true };
  }
  const result = fn();
  store.db.insert(idempotencyKeys)
    .values({ scope, key, bodyHash, status: 200, response: JSON.stringify(result), createdAt: now })
    .run();
  return { result, replayed: false };
}
