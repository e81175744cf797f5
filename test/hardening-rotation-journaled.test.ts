/**
 * `tollgate keys rotate` runs in another process while the serving gateway still holds charges
 * only in its settlement journal (not yet in SQLite: settle_batch_ms). The CLI copies the line's
 * spend as SQLite has it; the journaled charges, written later, go to the line's newest key as
 * the write reads it, not to the key that was newest when they were settled: the line's spend cap
 * and budget still count them, and the new key cannot spend them a second time.
 */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chat, user } from "./support/chat";
import { ROOT } from "./support/binary";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
const dir = mkdtempSync(join(tmpdir(), "tollgate-rotate-journal-"));
const dbPath = join(dir, "t.db");
let gw: Gateway;
afterAll(async () => {
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Held about 15,0xx micros and charged 10 × 3 + 1,000 × 15 = 15,030 (grok-4 of the fake catalogue). */
const CHARGE = 15_030;

test("a CLI rotation keeps the line's spend: charges still journaled count against the new key's cap", async () => {
  gw = await startGateway({ upstream: true, dbPath, config: { settle_batch_ms: 5_000 } });
  const c = await gw.customer(10_000_000, { spend_cap_micros: 50_000 });
  const ask = (key: string) => chat(gw.url, key, { model: "grok-4", max_tokens: 1000, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 1000 } });
  for (let i = 0; i < 3; i++) expect((await ask(c.key)).status).toBe(200);
  // 45,090 of the 50,000 cap spent: a 4th request cannot be held.
  expect((await ask(c.key)).status).toBe(402);

  const proc = Bun.spawn(["bun", join(ROOT, "src/index.ts"), "keys", "rotate", c.keyId, "--grace", "3600", "--json"], {
    cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir, TOLLGATE_DB: dbPath }, stdout: "pipe", stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  const fresh = JSON.parse(out) as { id: string; key: string; spent_micros: number };

  // Whatever the journal still held reaches SQLite.
  await gw.runtime.deps.credits.flush();
  const spent = (id: string) => gw.runtime.deps.store.sqlite.query<{ s: number }, [string]>("SELECT spent_micros AS s FROM api_keys WHERE id = ?").get(id)!.s;
  const report = { cliSaw: fresh.spent_micros, newKey: spent(fresh.id), oldKey: spent(c.keyId) };

  // The line spent 45,090 of its 50,000: neither key may be held for another request.
  const viaNew = await ask(fresh.key);
  const viaOld = await ask(c.key);
  expect({ ...report, viaNew: viaNew.status, viaOld: viaOld.status }).toEqual({ ...report, newKey: 3 * CHARGE, viaNew: 402, viaOld: 402 });
});

test("the same for the line's budget: journaled charges count against the new key's", async () => {
  const c = await gw.customer(10_000_000, { budget: { period: "month", amount_micros: 50_000 } });
  const ask = (key: string) => chat(gw.url, key, { model: "grok-4", max_tokens: 1000, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 1000 } });
  for (let i = 0; i < 3; i++) expect((await ask(c.key)).status).toBe(200);
  expect((await ask(c.key)).status).toBe(402);
  const proc = Bun.spawn(["bun", join(ROOT, "src/index.ts"), "keys", "rotate", c.keyId, "--grace", "3600", "--json"], {
    cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir, TOLLGATE_DB: dbPath }, stdout: "pipe", stderr: "pipe",
  });
  const [out, , code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect(code).toBe(0);
  const fresh = JSON.parse(out) as { id: string; key: string };
  await gw.runtime.deps.credits.flush();
  const viaNew = await ask(fresh.key);
  expect(viaNew.status).toBe(402);
});
