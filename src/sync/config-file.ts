import { chmodSync, chownSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { catalogueEntries, type ModelEntry } from "../config/catalogue";
import { ConfigError, isTomlFile, loadConfig, readConfigText } from "../config/load";
import { microsToUsd } from "../money/units";
import type { CatalogueDiff } from "./diff";
import { stringifyToml, withoutModelTables } from "./toml";
import type { SyncPrices } from "./xai-listing";

type Raw = Record<string, unknown>;

/** A USD amount as the config file writes it: a plain number when that is exact, else a string. */
export function usd(scaled: number): number | string {
  const s = microsToUsd(scaled);
  return String(Number(s)) === s ? Number(s) : s;
}

/** The price fields of a config entry for these prices (for the model's kind). */
export function priceFields(kind: "chat" | "image", p: SyncPrices): Partial<ModelEntry> {
  if (kind === "image") return { image_price: usd(p.image_price) };
  const long = p.long_context;
  return {
    input_price: usd(p.input_price),
    cached_input_price: usd(p.cached_input_price),
    output_price: usd(p.output_price),
    ...(long
      ? { long_context: { above_tokens: long.above_tokens, input_price: usd(long.input_price), cached_input_price: usd(long.cached_input_price), output_price: usd(long.output_price) } }
      : {}),
  };
}

/**
 * The file's models with the diff applied: changed prices set in place (everything else of the
 * entry kept), new models appended. A file without models stands for the built-in catalogue, so
 * that catalogue is written out first (a `models` list replaces it).
 */
function applyDiff(raw: Raw, diff: CatalogueDiff, providerId: string): ModelEntry[] {
  const entries = Array.isArray(raw.models) ? (structuredClone(raw.models) as ModelEntry[]) : catalogueEntries();
  for (const c of diff.changed) {
    const entry = entries.find((e) => e.id === c.id);
    if (!entry) throw new ConfigError(`models sync: model ${c.id} is not in the config file`);
    const kind = entry.kind ?? "chat";
    if (kind === "chat" && !c.after.long_context) delete entry.long_context;
    Object.assign(entry, priceFields(kind, c.after));
  }
  for (const a of diff.added) {
    entries.push({
      id: a.id,
      provider: providerId,
      kind: a.kind,
      ...priceFields(a.kind, a.prices),
      ...(a.context_window ? { context_window: a.context_window } : {}),
      ...(a.created !== undefined ? { created: a.created } : {}),
    });
  }
  return entries;
}

function readRaw(path: string): { text: string; raw: Raw } {
  // Read as loadConfig reads it (a byte-order mark dropped).
  const text = readConfigText(path);
  const raw = (isTomlFile(path) ? Bun.TOML.parse(text) : JSON.parse(text)) as Raw;
  return { text, raw };
}

const withoutModels = (raw: Raw) => JSON.stringify({ ...raw, models: undefined });

/**
 * The new file text. TOML keeps every line outside the `[[models]]` tables (comments included)
 * when it can, and is written whole otherwise (an inline `models = [...]`: comments are lost).
 */
function render(path: string, text: string, raw: Raw, models: ModelEntry[]): { text: string; rewritten: boolean } {
  if (!isTomlFile(path)) return { text: `${JSON.stringify({ ...raw, models }, null, 2)}\n`, rewritten: false };
  const rest = withoutModelTables(text, raw.models !== undefined);
  if (rest !== null) {
    const spliced = `${rest}\n\n${stringifyToml({ models })}`.replace(/^\n+/, "");
    // The other settings must read back exactly as they were, or the whole file is written.
    if (withoutModels(Bun.TOML.parse(spliced) as Raw) === withoutModels(raw)) return { text: spliced, rewritten: false };
  }
  return { text: stringifyToml({ ...raw, models }), rewritten: true };
}

/**
 * The new file gets the old one's owner, group and mode: the service may read it through its
 * group only (root:tollgate 0640), and a file it cannot read would stop it at its next start.
 */
function keepOwnerAndMode(tmp: string, real: string): void {
  const was = statSync(real);
  const now = statSync(tmp);
  if (was.uid !== now.uid || was.gid !== now.gid) {
    try {
      chownSync(tmp, was.uid, was.gid);
    } catch (e) {
      throw new Error(
        `models sync: cannot give the new ${real} its owner and group (${was.uid}:${was.gid}: ${(e as NodeJS.ErrnoException).code ?? "error"}); left as it was: run it as root or as the file's owner`,
      );
    }
  }
  chmodSync(tmp, was.mode & 0o777);
}

/**
 * Writes the diff into the config file: a temporary file beside the real one (through a symlink,
 * the file it points to: the link stays) with its owner, group and mode, that must load as a
 * valid configuration, then renamed over it at once.
 */
export function syncConfigFile(path: string, diff: CatalogueDiff, providerId: string, env: Record<string, string | undefined>): { rewritten: boolean } {
  const { text, raw } = readRaw(path);
  const out = render(path, text, raw, applyDiff(raw, diff, providerId));
  const real = realpathSync(path);
  // The format follows the name the file is read by (the link's), so the temporary file keeps its extension.
  const tmp = join(dirname(real), `.${basename(real)}.${process.pid}.sync${extname(path)}`);
  try {
    writeFileSync(tmp, out.text, { mode: 0o600 });
    keepOwnerAndMode(tmp, real);
    try {
      loadConfig({ env, file: tmp });
    } catch (e) {
      throw new ConfigError(`models sync: ${path} would not load after the sync (${(e as Error).message}); left as it was`);
    }
    renameSync(tmp, real);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { rewritten: out.rewritten };
}
