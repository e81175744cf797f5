import { Database } from "bun:sqlite";
import { accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

const PRAGMAS = [
  "PRAGMA journal_mode = WAL",
  "PRAGMA synchronous = NORMAL",
  "PRAGMA busy_timeout = 5000",
  "PRAGMA foreign_keys = ON",
  "PRAGMA temp_store = MEMORY",
  // Once the log starts over, a file grown by a burst of load is cut back to 64 MiB.
  "PRAGMA journal_size_limit = 67108864",
];

/**
 * Creates a missing database file readable by its owner only (0600; a new folder 0700), whatever
 * the umask: it holds password and key hashes, the ledger and the audit log. SQLite gives the
 * -wal and -shm files the database file's mode. An existing file is left as it is.
 */
function createPrivate(path: string): void {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, "a", 0o600));
  chmodSync(path, 0o600);
}

/**
 * The connection, with its pragmas. SQLite says only "unable to open database file" for a folder,
 * a read-only disk or a file of another user: the error names the file and what to check.
 */
export function openDatabase(path: string): Database {
  let sqlite: Database | undefined;
  try {
    if (path !== ":memory:") createPrivate(path);
    sqlite = new Database(path, { create: true, strict: true });
    for (const pragma of PRAGMAS) sqlite.exec(pragma);
    return sqlite;
  } catch (e) {
    sqlite?.close();
    throw openError(path, e);
  }
}

/** One line: the file, SQLite's words, and what to check. */
export function openError(path: string, e: unknown): Error {
  const why = (e as Error).message.replace(/\s*\n\s*/g, " ");
  const trouble = openTrouble(path);
  return new Error(`cannot open the database ${resolve(path)} (${why})${trouble ? `: ${trouble}` : ""}`);
}

/** What keeps `path` from being opened for writing, as far as the file system tells. */
function openTrouble(path: string): string | undefined {
  const code = (f: () => void) => {
    try {
      f();
      return undefined;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? "error";
    }
  };
  const dir = dirname(resolve(path));
  const folder = code(() => statSync(dir));
  if (folder === "ENOTDIR" || (!folder && !statSync(dir).isDirectory())) return `a part of its folder path ${dir} is a file, not a folder`;
  // A folder that could not be made: the error names it and why.
  if (folder) return undefined;
  if (existsSync(path) && statSync(path).isDirectory()) return "it is a folder: give the path of the database file in it";
  const rw = constants.R_OK | constants.W_OK;
  const file = existsSync(path) ? code(() => accessSync(path, rw)) : undefined;
  const folderTrouble = code(() => accessSync(dir, rw | constants.X_OK));
  const user = `this user (uid ${process.getuid?.()})`;
  if (file === "EROFS" || folderTrouble === "EROFS") return "the file system is read-only (SQLite writes the file, and its -wal and -shm files beside it)";
  if (file) return `${user} may not read and write the file: check its owner and mode`;
  if (folderTrouble) return `${user} may not create files in its folder ${dir} (SQLite keeps -wal and -shm files beside the database): check the folder's owner and mode`;
  return undefined;
}
