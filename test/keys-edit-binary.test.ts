import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, ensureBinary } from "./support/binary";
import { chat, user } from "./support/chat";
import { fakeCatalogue, startFakeUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

/**
 * Key edits through the compiled binary: PATCH /admin/keys/:id on the server, and `tollgate keys
 * update` from another process on the same database, both seen from the key's next request;
 * the CLI's help, JSON output and exit codes (0 done, 1 refused, 2 a bad command line).
 */
setDefaultTimeout(120_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-keys-edit-bin-"));
const dbPath = join(dir, "tollgate.db");
const upstream = startFakeUpstream();
let gw: BinaryGateway | undefined;
afterAll(async () => {
  await gw?.stop("SIGKILL");
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([BIN, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir, TOLLGATE_DB: dbPath }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}
const ask = (key: string, model: string) => chat(gw!.url, key, { model, messages: user("hi"), mock: { prompt_tokens: 5, completion_tokens: 5 } });

describe("key edits in the compiled binary", () => {
  test("PATCH on the server and keys update from the CLI apply from the next request", async () => {
    await ensureBinary();
    writeFileSync(join(dir, "tollgate.json"), JSON.stringify({ ...fakeCatalogue(upstream.url), db_path: dbPath }));
    gw = await startBinaryGateway({ dir, configFile: "tollgate.json" });
    const c = await gw.customer(5_000_000, { name: "edit me" });
    expect((await ask(c.key, "grok-3")).status).toBe(200);

    const patched = await gw.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { models: ["grok-4"], rpm: 50 } });
    expect(patched.status).toBe(200);
    expect((await ask(c.key, "grok-3")).status).toBe(404);
    expect((await ask(c.key, "grok-4")).status).toBe(200);

    // Another process changes the key; the server sees the commit on the key's next request.
    const updated = await cli(["keys", "update", c.keyId, "--models", "all", "--name", "edited", "--spend-cap", "0.000001", "--json"]);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ id: c.keyId, name: "edited", models: null, spend_cap_micros: 1, limits: { rpm: 50, tpm: null, concurrency: null } });
    const capped = await ask(c.key, "grok-3");
    expect(capped.status).toBe(402);
    expect(((await capped.json()) as { error: { code: string } }).error.code).toBe("spend_cap_reached");
    const me = (await (await gw.me(c.key)).json()) as { key: { name: string; models: string[] | null } };
    expect(me.key).toMatchObject({ name: "edited", models: null });

    const help = await cli(["keys", "update", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toStartWith("Usage: tollgate keys update <key-id>");
    for (const flag of ["--budget-period", "--expires-at", "--spend-cap", "--rpm", "--json"]) expect(help.stdout).toContain(flag);
    const above = await cli(["keys", "update", c.keyId, "--rpm", "1000000"]);
    expect(above.code).toBe(1);
    expect(above.stderr).toContain("above the account's plan");
    expect((await cli(["keys", "update", c.keyId, "--rpm", "many"])).code).toBe(2);
    expect((await cli(["keys", "update", c.keyId])).code).toBe(2);
    expect((await cli(["keys", "update", "key_nope", "--name", "x"])).code).toBe(1);
    const audit = (await (await gw.admin(`/admin/audit?target_id=${c.keyId}`)).json()) as { data: { action: string; actor: string }[] };
    expect(audit.data.filter((a) => a.action === "key.update").map((a) => a.actor).sort()).toEqual(["admin", "cli"]);
  });
});
