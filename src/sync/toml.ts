/**
 * A small TOML writer for configuration objects (Bun reads TOML but cannot write it): scalars and
 * arrays of scalars inline, objects as [tables], arrays of objects as [[arrays of tables]].
 */

type Value = unknown;

const isTable = (v: Value): v is Record<string, Value> => typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
const isTableArray = (v: Value): v is Record<string, Value>[] => Array.isArray(v) && v.length > 0 && v.every(isTable);

const key = (k: string) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));

function inline(v: Value): string {
  if (typeof v === "string") return JSON.stringify(v); // a JSON string is a valid TOML basic string
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`cannot write ${v} in TOML`);
    return String(v);
  }
  if (typeof v === "boolean") return String(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return `[${v.map(inline).join(", ")}]`;
  if (isTable(v)) return `{ ${Object.entries(v).map(([k, x]) => `${key(k)} = ${inline(x)}`).join(", ")} }`;
  throw new Error(`cannot write ${typeof v} in TOML`);
}

/** The body of a table: its plain keys, then its sub-tables, then its arrays of tables. */
function table(obj: Record<string, Value>, path: string[], out: string[]): void {
  const entries = Object.entries(obj).filter(([, v]) => v !== undefined && v !== null);
  const nested = ([, v]: [string, Value]) => (isTable(v) && Object.keys(v).length > 0) || isTableArray(v);
  for (const [k, v] of entries) if (!nested([k, v])) out.push(`${key(k)} = ${inline(v)}`);
  for (const [k, v] of entries) {
    if (!isTable(v) || Object.keys(v).length === 0) continue;
    const sub = [...path, key(k)];
    out.push("", `[${sub.join(".")}]`);
    table(v, sub, out);
  }
  for (const [k, v] of entries) {
    if (!isTableArray(v)) continue;
    const sub = [...path, key(k)];
    for (const item of v) {
      out.push("", `[[${sub.join(".")}]]`);
      table(item, sub, out);
    }
  }
}

/** A TOML document for `obj` (ends with a newline). */
export function stringifyToml(obj: Record<string, Value>): string {
  const out: string[] = [];
  table(obj, [], out);
  return `${out.join("\n").replace(/^\n+/, "")}\n`;
}

/** A `[[models]]`, `[models.x]` or `[[models.x]]` header line. */
const MODELS_HEADER = /^\s*\[\[?\s*(?:models|"models")\s*(?:\]|\.)/;
const HEADER = /^\s*\[\[?\s*[A-Za-z0-9_"'-][A-Za-z0-9_."' -]*\]\]?\s*(#.*)?$/;

/**
 * The document with its `[[models]]` tables (and their sub-tables) taken out, so that new ones
 * can be appended while every other line, comments included, stays; null when the models are
 * written some other way (an inline `models = [...]`). Comments right above a following table
 * are that table's, and stay.
 */
export function withoutModelTables(text: string, hasModels: boolean): string | null {
  const lines = text.split("\n");
  if (hasModels && !lines.some((l) => MODELS_HEADER.test(l))) return null;
  const kept: string[] = [];
  let dropped: string[] | null = null;
  for (const line of lines) {
    if (HEADER.test(line)) {
      if (dropped && !MODELS_HEADER.test(line)) {
        let start = dropped.length;
        while (start > 0 && /^\s*(#.*)?$/.test(dropped[start - 1]!)) start--;
        kept.push(...dropped.slice(start));
      }
      dropped = MODELS_HEADER.test(line) ? [] : null;
    }
    if (dropped) dropped.push(line);
    else kept.push(line);
  }
  return kept.join("\n").replace(/\n{3,}/g, "\n\n").replace(/\s+$/, "");
}
