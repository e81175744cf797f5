import { statSync } from "node:fs";

interface Id {
  dev: number;
  ino: number;
}

/** The file at `path` (device and inode), or null when there is none or it cannot be looked at. */
function idAt(path: string): Id | null {
  try {
    const s = statSync(path, { throwIfNoEntry: false });
    return s ? { dev: s.dev, ino: s.ino } : null;
  } catch {
    return null;
  }
}

/**
 * Which file a database connection has open, taken right after the open. SQLite keeps using its
 * open file when the path is deleted or another file is moved onto it (a cleanup script, a
 * mistaken restore): charges would go to a file nobody opens again, and the next start would find
 * another database. Comparing the path's file with this one tells, at the cost of one stat.
 */
export class FileIdentity {
  private readonly opened: Id;
  private reported = false;

  constructor(readonly path: string) {
    const id = idAt(path);
    if (!id) throw new Error(`cannot stat the database file ${path} it just opened`);
    this.opened = id;
  }

  /** What is wrong with the file at the path (gone, another file), or null. Logged once per occurrence. */
  problem(): string | null {
    const now = idAt(this.path);
    const problem = !now
      ? `the database file ${this.path} was deleted while the gateway had it open`
      : now.dev !== this.opened.dev || now.ino !== this.opened.ino
        ? `the database file ${this.path} was replaced by another file while the gateway had it open`
        : null;
    if (problem && !this.reported) {
      console.error(`${problem}: what it writes now no later start will see; stop it, put the file back (or restore a backup) and start it again`);
    }
    this.reported = problem !== null;
    return problem;
  }
}
