import type { Store } from "../store/store";
import { all } from "../store/work";

/**
 * Every prefix customer keys exist under: the configured `key_prefix`, and any earlier one (a
 * rotation keeps its key's prefix, so keys of an older prefix live on). The log redacts them all.
 */
export function keyPrefixes(store: Store, configured: string): Promise<string[]> {
  return store.read(function* (q) {
    const found = yield* all(q.db.selectDistinct({ prefix: q.t.apiKeys.prefix }).from(q.t.apiKeys));
    return [...new Set([configured, ...found.map((r) => r.prefix)])];
  });
}
