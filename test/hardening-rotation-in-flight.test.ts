/**
 * A key rotated while its requests are in flight: the line's newest key carries them. Their
 * concurrency slots move with the rotation (the line's 2 slots stay taken); their charges go to
 * the newest key's spend and budget when they settle, also after a rotation by another process
 * (the CLI) the serving process learns of from SQLite; a deferred request's hold restored at a
 * start counts against the newest key too.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chat, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const spent = (gw: Gateway, id: string) => gw.runtime.deps.store.sqlite.query<{ s: number }, [string]>("SELECT spent_micros AS s FROM api_keys WHERE id = ?").get(id)!.s;

describe("deferred request of a rotated key, across a restart", () => {
  test("its hold counts against the line's newest key and its charge goes to it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-rotation-"));
    dirs.push(dir);
    const dbPath = join(dir, "t.db");
    const gw1 = await startGateway({ upstream: true, dbPath });
    const c = await gw1.customer(10_000_000);
    expect((await gw1.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { spend_cap_micros: 100_000 } })).status).toBe(200);
    const made = await chat(gw1.url, c.key, { model: "grok-4", messages: user("later"), max_tokens: 1000, deferred: true, mock: { prompt_tokens: 10, completion_tokens: 1000, deferred_ms: 300 } });
    expect(made.status).toBe(200);
    const requestId = ((await made.json()) as { request_id: string }).request_id;
    const rot = await gw1.admin(`/admin/keys/${c.keyId}/rotate`, { body: { grace_seconds: 3600 } });
    expect(rot.status).toBe(201);
    const next = (await rot.json()) as { id: string; key: string };
    // Before the restart, the serving process moved the hold to the new key.
    const heldBefore = gw1.runtime.deps.credits.keySpend(next.id)!.held;
    expect(heldBefore).toBeGreaterThan(15_000);
    await gw1.stop({ keepUpstream: true });

    const gw2 = await startGateway({ upstream: gw1.upstream, dbPath });
    try {
      // After the restart the pending deferred hold should still count against the line's cap (new key).
      const heldAfter = gw2.runtime.deps.credits.keySpend(next.id)!.held;
      await Bun.sleep(400);
      const res = await fetch(`${gw2.url}/v1/chat/deferred-completion/${requestId}`, { headers: { authorization: `Bearer ${next.key}` } });
      expect(res.status).toBe(200);
      await res.text();
      gw2.runtime.deps.credits.balance(c.accountId);
      await gw2.runtime.deps.credits.flush();
      expect({ heldAfter, newKeySpent: spent(gw2, next.id), oldKeySpent: spent(gw2, c.keyId) }).toEqual({ heldAfter: heldBefore, newKeySpent: 15_030, oldKeySpent: 0 });
    } finally {
      await gw2.stop();
    }
  });
});

describe("rate-limit state across a rotation", () => {
  test("requests in flight on the old key still take the line's concurrency slots", async () => {
    const gw = await startGateway({ upstream: true });
    try {
      const c = await gw.customer(10_000_000);
      expect((await gw.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { concurrency: 2 } })).status).toBe(200);
      const slow = (key: string) => chat(gw.url, key, { model: "grok-4", max_tokens: 20, messages: user("hi"), mock: { delay_ms: 2_000 } });
      const inFlight = [slow(c.key), slow(c.key)];
      await Bun.sleep(300);
      // The key is at its concurrency: a third is refused.
      const third = await chat(gw.url, c.key, { model: "grok-4", max_tokens: 20, messages: user("hi") });
      expect(third.status).toBe(429);
      const rot = await gw.admin(`/admin/keys/${c.keyId}/rotate`, { body: { grace_seconds: 3600 } });
      const next = (await rot.json()) as { id: string; key: string };
      // Same line, same 2 slots, both still taken.
      const after = await Promise.all([slow(next.key), slow(next.key)]);
      await Promise.all(inFlight);
      expect(after.map((r) => r.status)).toEqual([429, 429]);
    } finally {
      await gw.stop();
    }
  });
});

describe("a rotation by another process (the CLI) while requests are in flight", () => {
  test("the spend of requests already in flight goes to the line's newest key as they settle", async () => {
    const { SqliteStore } = await import("../src/store/sqlite-store");
    const { rotateKey } = await import("../src/modules/keys/service");
    const dir = mkdtempSync(join(tmpdir(), "tollgate-rotation-cli-"));
    dirs.push(dir);
    const dbPath = join(dir, "t.db");
    const gw = await startGateway({ upstream: true, dbPath });
    try {
      const c = await gw.customer(10_000_000);
      expect((await gw.admin(`/admin/keys/${c.keyId}`, { method: "PATCH", body: { spend_cap_micros: 40_000 } })).status).toBe(200);
      const ask = (key: string, delay = 0) => chat(gw.url, key, { model: "grok-4", max_tokens: 1000, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 1000, ...(delay ? { delay_ms: delay } : {}) } });
      const inFlight = [ask(c.key, 1_500), ask(c.key, 1_500)];
      await Bun.sleep(300);
      const cli = new SqliteStore(dbPath);
      const rotated = await rotateKey(cli, c.keyId, 3600, "cli");
      cli.close();
      expect((await Promise.all(inFlight)).map((r) => r.status)).toEqual([200, 200]);
      await gw.runtime.deps.credits.flush();
      // The line spent 2 x 15,030 = 30,060 of its 40,000 cap: no further request of ~15,0xx fits.
      const next = await ask(rotated.key);
      expect({ newKeySpent: spent(gw, rotated.row.id), next: next.status }).toEqual({ newKeySpent: 30_060, next: 402 });
    } finally {
      await gw.stop();
    }
  });
});
