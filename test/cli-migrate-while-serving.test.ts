/**
 * A newer binary's command line does not migrate a database a gateway serves: that (older)
 * gateway would go on charging into a schema it does not know, and refuse the file at its next
 * start. `migrate`, and any command that would migrate on opening, refuse while the gateway's
 * journal lock is held, and change nothing; with no gateway they migrate as before.
 */
import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrations } from "../drizzle";
import { runCli } from "../src/cli/run";
import { commands } from "../src/cli/commands";
import { journalPath, SettleJournal } from "../src/money/settle-journal";

const dir = mkdtempSync(join(tmpdir(), "tollgate-migrate-served-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A database as the release before this one left it: every migration but the newest. */
function olderDatabase(name: string): string {
  const file = join(dir, name);
  const db = new Database(file, { create: true });
  db.exec("CREATE TABLE __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)");
  for (const m of migrations.slice(0, -1)) {
    for (const stmt of m.sql.split("--> statement-breakpoint")) if (stmt.trim()) db.exec(stmt);
    db.query("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('h', ?)").run(m.when);
  }
  db.close();
  return file;
}

const applied = (file: string) => {
  const db = new Database(file, { readonly: true });
  const n = db.query<{ n: number }, []>("SELECT count(*) AS n FROM __drizzle_migrations").get()!.n;
  db.close();
  return n;
};

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(commands, argv, { env: {}, version: "test", stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

test("migrate refuses while a gateway holds the database's journal lock, and changes nothing", async () => {
  const file = olderDatabase("served.db");
  // What a serving gateway holds from before it migrates until it exits.
  const serving = SettleJournal.claim(journalPath(file))!;
  try {
    for (const argv of [["--db", file, "migrate"], ["--db", file, "accounts", "list"]]) {
      const r = await run(argv);
      expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: "" });
      expect(r.stderr).toContain(`${journalPath(file)}.lock`);
      expect(r.stderr).toContain("nothing was changed");
      expect(applied(file)).toBe(migrations.length - 1);
    }
  } finally {
    serving.close();
  }
  // Once the gateway has stopped, the same command migrates.
  const r = await run(["--db", file, "migrate"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("applied 1 migration(s)");
  expect(applied(file)).toBe(migrations.length);
});

test("a database that needs no migration is read beside a serving gateway as before", async () => {
  const file = join(dir, "current.db");
  expect((await run(["--db", file, "migrate"])).code).toBe(0);
  const serving = SettleJournal.claim(journalPath(file))!;
  try {
    const r = await run(["--db", file, "migrate"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("up to date");
    expect((await run(["--db", file, "accounts", "list"])).code).toBe(0);
  } finally {
    serving.close();
  }
});
