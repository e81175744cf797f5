/**
 * The admin CLI on PostgreSQL (database_url): the same commands work on the shared database, a
 * running gateway instance sees what they did, and `backup` explains pg_dump instead of copying.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chat, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";
import { freshPostgres } from "./support/postgres";

setDefaultTimeout(120_000);
const ENTRY = resolve(import.meta.dir, "../src/index.ts");
let dir: string;
let url: string;
let upstream: MockUpstream;
let gw: BinaryGateway;

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([process.execPath, ENTRY, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: dir, TOLLGATE_DATABASE_URL: url },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

async function json<T = any>(args: string[]): Promise<T> {
  const r = await cli([...args, "--json"]);
  if (r.code !== 0) throw new Error(`${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tollgate-pgcli-"));
  url = await freshPostgres();
  upstream = startFakeUpstream();
});

afterAll(async () => {
  await gw?.stop();
  await upstream?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("the CLI on PostgreSQL", () => {
  test("migrate, then accounts, credits, keys, members and codes; a gateway instance serves what they made", async () => {
    const m = await json(["migrate"]);
    expect(m.applied).toBeGreaterThan(0);
    expect(m.db_path).toBe("(PostgreSQL)");
    const acc = await json(["accounts", "create", "Postgres Co", "--email", "owner@example.com"]);
    expect(acc.id).toMatch(/^acc_/);
    const credit = await json(["credits", "add", acc.id, "2.5", "--idempotency-key", "pg-cli-1"]);
    expect(credit.amount_micros).toBe(2_500_000);
    expect((await json(["credits", "add", acc.id, "2.5", "--idempotency-key", "pg-cli-1"])).replayed).toBe(true);
    const key = await json(["keys", "create", acc.id, "--name", "cli"]);
    expect(key.key).toMatch(/^sk-tg-/);
    const invited = await json(["members", "invite", acc.id, "dev@example.com"]);
    expect(invited.member?.email ?? invited.email).toBe("dev@example.com");
    const members = await json(["members", "list", acc.id]);
    expect(members.data.map((x: { email: string }) => x.email)).toContain("dev@example.com");
    const codes = await json(["codes", "create", "--count", "2", "--amount", "1"]);
    expect(codes.codes ?? codes.data).toHaveLength(2);

    gw = await startBinaryGateway({ config: fakeCatalogue(upstream.url), env: { TOLLGATE_DATABASE_URL: url } });
    expect((await chat(gw.url, key.key, { model: "grok-4", messages: user(), mock: { prompt_tokens: 10, completion_tokens: 4 } })).status).toBe(200);
    const shown = await json(["accounts", "show", acc.id]);
    expect(shown.balance_micros).toBe(2_500_000 - (10 * 3 + 4 * 15));
    expect(await gw.balance(acc.id)).toBe(shown.balance_micros);

    // A key revoked from the CLI is refused by the running instance within a second.
    expect((await json(["keys", "revoke", key.id])).revoked_at).not.toBeNull();
    const t0 = Date.now();
    while ((await gw.me(key.key)).status !== 401) await Bun.sleep(20);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  test("backup explains pg_dump instead of copying a file", async () => {
    const r = await cli(["backup", join(dir, "copy.db")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("pg_dump --format=custom");
    expect(r.stderr).toContain("pg_restore");
  });
});
