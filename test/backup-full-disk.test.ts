/**
 * A backup that fails because its disk is full leaves no file of its own behind (VACUUM INTO's
 * rollback journal included: with dated names these would pile up night after night) and says
 * which file failed, so that "disk is full" is not read as the served database's.
 */
import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { commands } from "../src/cli/commands";
import { runCli } from "../src/cli/run";
import { smallDisk } from "./support/small-disk";

// A 12 MiB disk of its own; skipped where one cannot be mounted.
const disk = smallDisk(12);
const mnt = disk.path;

async function cli(argv: string[]) {
  const err: string[] = [];
  const code = await runCli(commands, argv, { env: {}, version: "test", stdout: () => {}, stderr: (l) => err.push(l) });
  return { code, stderr: err.join("\n") };
}

test.skipIf(!disk.mounted)("a backup that fails for a full disk leaves nothing behind and names its file", async () => {
  const dbPath = join(mnt, "tollgate.db");
  expect((await cli(["--db", dbPath, "migrate"])).code).toBe(0);
  const db = new Database(dbPath);
  db.exec("CREATE TABLE filler (b BLOB)");
  for (let i = 0; i < 5; i++) db.exec("INSERT INTO filler VALUES (zeroblob(1000000))");
  db.close();

  expect((await cli(["--db", dbPath, "backup", join(mnt, "backup-day1.db")])).code).toBe(0);
  const day2 = join(mnt, "backup-day2.db");
  const second = await cli(["--db", dbPath, "backup", day2]);
  expect(second.code).toBe(1);
  expect(readdirSync(mnt).filter((f) => f.startsWith("backup-day2"))).toEqual([]);
  expect(second.stderr).toContain(`the backup to ${day2} failed`);
});
