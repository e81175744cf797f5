/** Rotation lines: a key and the keys it replaced or was replaced by (what the portal and usage filters group). */
import { LINE_HOPS } from "../../gateway/key-row";
import type { KeyRow } from "./service";

/** A rotation line: its keys newest first; the newest carries the line's spend, cap and budget. */
export interface KeyLine {
  newest: KeyRow;
  keys: KeyRow[];
}

/**
 * Groups keys with their replacements (rotation keeps the name, so a filter listing each key shows
 * duplicates): one line per newest key, newest lines first. A key whose replacement is not in
 * `keys` starts its own line.
 */
export function rotationLines(keys: readonly KeyRow[]): KeyLine[] {
  const byId = new Map(keys.map((k) => [k.id, k]));
  const newestOf = (k: KeyRow): KeyRow => {
    let cur = k;
    for (let hops = 0; cur.rotatedTo && byId.has(cur.rotatedTo) && hops < LINE_HOPS; hops++) cur = byId.get(cur.rotatedTo)!;
    return cur;
  };
  const lines = new Map<string, KeyLine>();
  for (const k of keys) {
    const newest = newestOf(k);
    const line = lines.get(newest.id) ?? { newest, keys: [] };
    line.keys.push(k);
    lines.set(newest.id, line);
  }
  const out = [...lines.values()];
  for (const l of out) l.keys.sort((a, b) => b.createdAt - a.createdAt);
  return out.sort((a, b) => b.newest.createdAt - a.newest.createdAt);
}

/** The line a key belongs to (by any of its keys' ids), if among `lines`. */
export const lineOf = (lines: readonly KeyLine[], keyId: string) => lines.find((l) => l.keys.some((k) => k.id === keyId));
