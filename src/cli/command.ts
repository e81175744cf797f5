import type { z } from "zod";
import { loadConfig, type Config } from "../config/load";
import type { PgStore } from "../store/pg-store";
import { journalPath, SettleJournal } from "../money/settle-journal";
import { missingMigrations } from "../store/migrate";
import { SqliteStore } from "../store/sqlite-store";
import type { Store } from "../store/store";
import { UsageError, type OptionSpecs, type Parsed } from "./args";

/** The actor recorded in audit entries for changes made from the command line. */
export const CLI_ACTOR = "cli";

/** A command that runs. `args` names the positionals ("<name>" required, "[name]" optional). */
export interface LeafCommand {
  summary: string;
  args?: string[];
  options?: OptionSpecs;
  examples?: string[];
  /** Returns the exit code (0 when omitted). A server keeps the process alive by itself. */
  run(ctx: CliContext, parsed: Parsed): number | void | Promise<number | void>;
}

/** A command with subcommands (`keys create`, `keys list`, ...). */
export interface GroupCommand {
  summary: string;
  subcommands: Record<string, LeafCommand>;
}

export type Command = LeafCommand | GroupCommand;
export type CommandTable = Record<string, Command>;

export const isGroup = (c: Command): c is GroupCommand => "subcommands" in c;

export interface GlobalFlags {
  config?: string;
  db?: string;
  json: boolean;
}

/** What a command gets: the flags, lazily loaded config and database, and output helpers. */
export class CliContext {
  private cfg?: Config;
  private handle?: SqliteStore;
  private pg?: PgStore;
  /** Migrations applied when this context opened the database. */
  migrated = 0;

  constructor(
    readonly flags: GlobalFlags,
    readonly env: Record<string, string | undefined>,
    readonly stdout: (line: string) => void = (l) => console.log(l),
    readonly stderr: (line: string) => void = (l) => console.error(l),
  ) {}

  get json(): boolean {
    return this.flags.json;
  }

  /** Loads the configuration once (ConfigError → exit 2); `--db` wins over file and env. */
  config(): Config {
    this.cfg ??= loadConfig({
      env: this.env,
      file: this.flags.config,
      overrides: this.flags.db ? { db_path: this.flags.db } : {},
    });
    return this.cfg;
  }

  /**
   * The database the commands work on, opened and migrated on first use: the embedded SQLite file,
   * or PostgreSQL when database_url is set.
   */
  async db(): Promise<Store> {
    const url = this.config().database_url;
    if (!url) return this.sqlite();
    if (!this.pg) {
      const { PgStore } = await import("../store/pg-store");
      this.pg = await PgStore.open(url);
      this.migrated = this.pg.migrated;
    }
    return this.pg;
  }

  /**
   * The embedded database, for what only it has (the server's journal and persisted holds, file
   * backups); migrated on opening unless `migrate` is false (a backup copies the schema it finds).
   */
  sqlite(opts: { migrate?: boolean } = {}): SqliteStore {
    if (this.config().database_url) throw new UsageError("this works on the embedded SQLite database only (database_url is set)");
    if (!this.handle) {
      this.handle = new SqliteStore(this.config().db_path);
      if (opts.migrate ?? true) this.migrated = migrateUnserved(this.handle);
    }
    return this.handle;
  }

  /** Whether the books are on PostgreSQL (then holds live in the gateways' memory, not in the database). */
  get shared(): boolean {
    return this.config().database_url !== undefined;
  }

  async close(): Promise<void> {
    this.handle?.close();
    this.handle = undefined;
    await this.pg?.close();
    this.pg = undefined;
  }

  /** Prints `value` as the one JSON document with --json, else the human lines. */
  print(value: unknown, human: () => string[] | string): void {
    if (this.json) this.stdout(JSON.stringify(value, null, 2));
    else {
      const out = human();
      for (const line of Array.isArray(out) ? out : [out]) this.stdout(line);
    }
  }
}

/** Checks the positional count against the command's `args`. */
export function positionals(parsed: Parsed, cmd: LeafCommand, name: string): string[] {
  const specs = cmd.args ?? [];
  const required = specs.filter((a) => a.startsWith("<")).length;
  const got = parsed.positionals;
  if (got.length < required) {
    const missing = specs.slice(got.length).find((a) => a.startsWith("<"));
    throw new UsageError(`${name}: missing argument ${missing}; see 'tollgate ${name} --help'`);
  }
  if (got.length > specs.length) throw new UsageError(`${name}: unexpected argument ${JSON.stringify(got[specs.length])}`);
  return got;
}

/** Validates with a model schema, reporting the first problem under its flag name. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, flag: (field: string) => string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new UsageError(`${flag(issue.path.map(String).join("."))}: ${issue.message}`);
}

/** "1700000000123" ms → "2023-11-14T22:13:20Z"; null → "-". */
export function isoTime(ms: number | null | undefined): string {
  if (ms == null) return "-";
  // A time the API takes but no date can show (a far-future filter) is printed, not a crash.
  if (!(Math.abs(ms) <= 8.64e15)) return `${Math.floor(ms / 1000)} (unix seconds, beyond any date)`;
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Aligned columns with a header row. */
export function table<T>(rows: readonly T[], columns: [string, (r: T) => string][]): string[] {
  const cells = [columns.map(([h]) => h.toUpperCase()), ...rows.map((r) => columns.map(([, f]) => f(r)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join("  ").trimEnd());
}

/** "label  value" lines with the labels aligned. */
export function pairs(entries: [string, string][]): string[] {
  const w = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${k.padEnd(w)}  ${v}`);
}

/**
 * Migrates the file, unless a gateway serves it: that (older) gateway would go on charging into a
 * schema it does not know. Its journal lock says it runs; held here, it keeps one from starting.
 */
function migrateUnserved(store: SqliteStore): number {
  const file = store.file;
  if (!file || missingMigrations(store.sqlite) === 0) return store.migrate();
  const lock = SettleJournal.claim(journalPath(file));
  if (!lock) {
    throw new Error(`a gateway serves ${file} (it holds ${journalPath(file)}.lock) and this binary would change its schema under it; stop the gateway first, then run this again (nothing was changed)`);
  }
  try {
    return store.migrate();
  } finally {
    lock.close();
  }
}
