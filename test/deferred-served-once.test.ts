/**
 * xAI serves a deferred result "exactly once within 24 hours, after which it would be discarded"
 * (its Deferred Chat Completions guide). The gateway keeps the result in the request's row as soon
 * as it has it, before charging it: its owner gets it (charged once) whoever fetched it (their
 * poll, the gateway's poller, before a restart, out of memory), one fetch asks at a time (the
 * poller and a poll at once share it; another instance waits with a 202), a result is kept a
 * day after its settlement, and a request nobody fetched within the upstream's day gives its
 * hold back without asking.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { settleDeferred } from "../src/gateway/deferred-results";
import { KEPT_RESULT_CHARS } from "../src/gateway/deferred";
import { DEFERRED_POLL_INTERVAL_MS } from "../src/modules/deferred/polls";
import { chat, user } from "./support/chat";
import { fakeCatalogue } from "./support/fake-upstream";
import { startGateway, type Customer, type Gateway } from "./support/gateway";
import { chargeRows } from "./support/resilience";

setDefaultTimeout(60_000);

/** 7 prompt + 5 completion tokens of grok-4 at 3 / 15 micros per token. */
const CHARGE = 7 * 3 + 5 * 15;

/** An xAI-like upstream: parks every deferred request; its result is served exactly once, then 404. */
function onceUpstream(resultDelayMs = 0) {
  const served = new Set<string>();
  let asked = 0;
  const completion = {
    id: "c",
    object: "chat.completion",
    model: "grok-4",
    choices: [{ index: 0, message: { role: "assistant", content: "the answer" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 },
  };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      if (req.method === "POST") {
        await req.arrayBuffer();
        return Response.json({ request_id: `up-${crypto.randomUUID()}` });
      }
      const id = new URL(req.url).pathname.split("/").pop()!;
      asked++;
      if (served.has(id)) return new Response(null, { status: 404 });
      served.add(id);
      if (resultDelayMs) await Bun.sleep(resultDelayMs);
      return Response.json(completion);
    },
  });
  return { url: `http://127.0.0.1:${server.port}/v1`, asked: () => asked, stop: () => server.stop(true) };
}

const poll = (g: Gateway, c: Customer, id: string) => fetch(`${g.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${c.key}` } });
async function park(g: Gateway, c: Customer): Promise<string> {
  const res = await chat(g.url, c.key, { model: "grok-4", messages: user("later"), max_tokens: 50, deferred: true });
  expect(res.status).toBe(200);
  return ((await res.json()) as { request_id: string }).request_id;
}
const charges = (g: Gateway, c: Customer, id: string) => chargeRows(g.runtime.deps.store.sqlite, c.accountId).filter((r) => r.request_id === id).map((r) => -r.amount_micros);

describe("a deferred result the upstream serves exactly once", () => {
  let up: ReturnType<typeof onceUpstream>;
  let dir: string;
  beforeAll(() => {
    up = onceUpstream();
    dir = mkdtempSync(join(tmpdir(), "tollgate-deferred-once-"));
  });
  afterAll(() => {
    up?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("charged by the gateway's poller, then out of memory: its owner gets it at the charge recorded", async () => {
    const g = await startGateway({ config: fakeCatalogue(up.url) });
    try {
      const c = await g.customer(10_000_000);
      const id = await park(g, c);
      expect(await settleDeferred(g.runtime.deps, 0)).toBe(1);
      expect(charges(g, c, id)).toEqual([CHARGE]);
      g.runtime.deps.deferred.results.keep("req_filler", "x".repeat(KEPT_RESULT_CHARS));
      const r = await poll(g, c, id);
      expect(r.status).toBe(200);
      expect(((await r.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe("the answer");
      expect(charges(g, c, id)).toEqual([CHARGE]);
    } finally {
      await g.stop();
    }
  });

  test("a result answered from its row is free: no request of the key's rate limits", async () => {
    const g = await startGateway({ config: fakeCatalogue(up.url) });
    try {
      const c = await g.customer(10_000_000);
      expect((await g.admin(`/admin/keys/${c.keyId}/limits`, { method: "PUT", body: { rpm: 2 } })).status).toBe(200);
      const id = await park(g, c);
      // The key's second request of the minute: this poll asks the upstream, and charges it.
      expect((await poll(g, c, id)).status).toBe(200);
      g.runtime.deps.deferred.results.keep("req_filler", "x".repeat(KEPT_RESULT_CHARS));
      await Bun.sleep(DEFERRED_POLL_INTERVAL_MS + 50);
      for (let i = 0; i < 3; i++) expect((await poll(g, c, id)).status).toBe(200);
      expect(charges(g, c, id)).toEqual([CHARGE]);
    } finally {
      await g.stop();
    }
  });

  test("charged by the gateway's poller, then the gateway restarts: its owner gets it, charged once", async () => {
    const dbPath = join(dir, "restart.db");
    const g1 = await startGateway({ config: fakeCatalogue(up.url), dbPath });
    const c = await g1.customer(10_000_000);
    const id = await park(g1, c);
    expect(await settleDeferred(g1.runtime.deps, 0)).toBe(1);
    await g1.stop();
    const g2 = await startGateway({ config: fakeCatalogue(up.url), dbPath });
    try {
      expect((await poll(g2, c, id)).status).toBe(200);
      expect(charges(g2, c, id)).toEqual([CHARGE]);
    } finally {
      await g2.stop();
    }
  });

  test("fetched, then the process died before the charge: the next poll charges the kept result once", async () => {
    const dbPath = join(dir, "died.db");
    const g1 = await startGateway({ config: fakeCatalogue(up.url), dbPath });
    const c = await g1.customer(10_000_000);
    const id = await park(g1, c);
    const row = (await g1.runtime.deps.deferred.get(id))!;
    // What a fetch keeps before it charges: the upstream's answer, in the row.
    const answer = await (await fetch(`${up.url}/chat/deferred-completion/${row.upstreamId}`)).text();
    await g1.runtime.deps.deferred.fetched(id, answer);
    await g1.stop();
    const g2 = await startGateway({ config: fakeCatalogue(up.url), dbPath });
    try {
      const r = await poll(g2, c, id);
      expect(r.status).toBe(200);
      expect(((await r.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe("the answer");
      // The charge is in the settlement journal: written to SQLite now, to be read there.
      g2.runtime.deps.store.catchUp();
      expect(charges(g2, c, id)).toEqual([CHARGE]);
      expect(await g2.account(c.accountId)).toMatchObject({ balance_micros: 10_000_000 - CHARGE, held_micros: 0 });
    } finally {
      await g2.stop();
    }
  });

  test("a fetch another instance is making: 202 without asking the upstream", async () => {
    const g = await startGateway({ config: fakeCatalogue(up.url) });
    try {
      const c = await g.customer(10_000_000);
      const id = await park(g, c);
      expect(await g.runtime.deps.deferred.claim(id, Date.now())).toBe(true);
      const before = up.asked();
      expect((await poll(g, c, id)).status).toBe(202);
      expect(up.asked()).toBe(before);
      await g.runtime.deps.deferred.unclaim(id);
      // Past the interval in which a poll's last answer (the 202) stands.
      await Bun.sleep(DEFERRED_POLL_INTERVAL_MS + 50);
      expect((await poll(g, c, id)).status).toBe(200);
      expect(charges(g, c, id)).toEqual([CHARGE]);
    } finally {
      await g.stop();
    }
  });

  test("a result is kept a day after its settlement; a request nobody fetched within the upstream's day is released", async () => {
    const g = await startGateway({ config: fakeCatalogue(up.url) });
    try {
      const c = await g.customer(10_000_000);
      const id = await park(g, c);
      expect((await poll(g, c, id)).status).toBe(200);
      const deps = g.runtime.deps;
      expect(await deps.deferred.forgetResults(Date.now() + 1)).toBe(1);
      deps.deferred.results.keep("req_filler", "x".repeat(KEPT_RESULT_CHARS));
      expect((await poll(g, c, id)).status).toBe(404);
      expect(charges(g, c, id)).toEqual([CHARGE]);
      // Parked a day and a bit ago (its row says), never fetched: the poller gives the hold back without asking.
      const old = await park(g, c);
      deps.store.sqlite.query("UPDATE deferred_requests SET created_at = created_at - 90000000 WHERE request_id = ?").run(old);
      const before = up.asked();
      await settleDeferred(deps, 0);
      expect(up.asked()).toBe(before);
      expect(charges(g, c, old)).toEqual([]);
      expect(await g.account(c.accountId)).toMatchObject({ balance_micros: 10_000_000 - CHARGE, held_micros: 0 });
    } finally {
      await g.stop();
    }
  });
});

describe("the poller and a customer's poll asking at once", () => {
  test("share one fetch: the result is delivered and charged once", async () => {
    const slow = onceUpstream(300);
    const g = await startGateway({ config: fakeCatalogue(slow.url) });
    try {
      const c = await g.customer(10_000_000);
      const id = await park(g, c);
      const [res] = await Promise.all([poll(g, c, id), Bun.sleep(50).then(() => settleDeferred(g.runtime.deps, 0))]);
      const body = (await res.json()) as { choices?: unknown[] };
      expect({ status: res.status, delivered: Array.isArray(body.choices) }).toEqual({ status: 200, delivered: true });
      expect(charges(g, c, id)).toEqual([CHARGE]);
      expect(slow.asked()).toBe(1);
    } finally {
      await g.stop();
      slow.stop();
    }
  });
});
