import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "./support/binary";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

setDefaultTimeout(120_000);

/**
 * The database holds password and key hashes, the ledger and the audit log; the journal holds
 * charges; a backup holds all of it. None may be readable by other users of the machine, whatever
 * the umask the service was started with (the compiled binary, with this process's umask).
 */
const TOKEN = "file-modes-admin-token-0123456789";
let dir: string;
let gw: BinaryGateway;
beforeAll(async () => {
  const bin = await ensureBinary();
  expect(bin).toBeString();
  dir = mkdtempSync(join(tmpdir(), "tollgate-modes-"));
  gw = await startBinaryGateway({ dir, dbPath: join(dir, "data", "t.db"), adminToken: TOKEN });
});
afterAll(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe("files are created private (0600)", () => {
  test("database, WAL, shared memory, settlement journal and its lock", async () => {
    // Writes, so the WAL and the shared-memory file exist.
    const acc = (await (await gw.admin("/admin/accounts", { body: { name: "Modes" } })).json()) as { id: string };
    await gw.admin(`/admin/accounts/${acc.id}/credits`, { body: { amount_micros: 1_000_000 } });
    const data = join(dir, "data");
    const files = readdirSync(data).sort();
    for (const f of ["t.db", "t.db-wal", "t.db-shm", "t.db-settlements", "t.db-settlements.lock"]) expect(files).toContain(f);
    for (const f of files) expect({ file: f, mode: mode(join(data, f)) }).toEqual({ file: f, mode: "600" });
  });

  test("a backup taken while the gateway serves", async () => {
    const target = join(dir, "backup.db");
    const p = Bun.spawn([join(import.meta.dir, "..", "dist", "tollgate"), "backup", target, "--db", join(dir, "data", "t.db")], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", HOME: dir },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(mode(target)).toBe("600");
    for (const f of [`${target}-wal`, `${target}-shm`]) if (existsSync(f)) expect(mode(f)).toBe("600");
  });
});
