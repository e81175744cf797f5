/**
 * Every token is paid: a client that stops reading is cut off at total_ms and charged what was
 * delivered (its hold is never swept while it lives); usage above the hold is charged (overage);
 * a whole answer is charged even when its client left; a cut stream is estimated from the
 * tokens delivered; a key's cap says so, and is shared with the key's replacements.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { connect } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { costMicros } from "../src/gateway/providers/usage";
import { chat, until, user } from "./support/chat";
import { startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";
import { chargeRows, expectExactLedger, FAST, gatewayOver, PRICES } from "./support/resilience";

setDefaultTimeout(30_000);

let upstream: MockUpstream;
beforeAll(() => {
  upstream = startFakeUpstream();
});
afterAll(async () => {
  await upstream.stop();
});

type Err = { error: { message: string; type: string; code: string | null } };
type Row = { status: number; cost_micros: number; error_code: string | null; completion_tokens: number; overage_micros: number; estimated: number };

const row = (gw: Gateway, requestId: string) =>
  gw.runtime.deps.store.sqlite
    .query<Row, [string]>("SELECT status, cost_micros, error_code, completion_tokens, overage_micros, estimated FROM usage_log WHERE request_id = ?")
    .get(requestId);

const single = (overrides: Record<string, unknown> = {}) => gatewayOver([{ id: "fake", url: upstream.url }], { retry: { max_attempts: 1 }, ...overrides });

describe("a client that stops reading", () => {
  test("is cut off at total_ms and charged what was delivered; its hold is never swept while the stream lives", async () => {
    // The sweeper runs every 5 s and would release a 10 s hold; total_ms (2 s) must end the stream first.
    const gw = await single({ timeouts: { ...FAST.timeouts, stream_gap_ms: 30_000, total_ms: 2_000 }, hold_ttl_seconds: 10 });
    try {
      const c = await gw.customer(10_000_000);
      const body = JSON.stringify({ model: "grok-4", messages: user(), stream: true, mock: { completion_tokens: 200_000 } });
      // A raw connection that stops reading after the first bytes: TCP backpressure stalls the stream.
      const { port } = new URL(gw.url);
      const socket = connect(Number(port), "127.0.0.1");
      let head = "";
      socket.once("data", (d: Buffer) => {
        head = d.toString("latin1");
        socket.pause();
      });
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${c.key}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      expect(await until(() => head.length > 0, 3_000)).toBe(true);
      const requestId = /x-request-id: (\S+)/i.exec(head)![1]!;
      expect(await until(() => row(gw, requestId) !== null, 6_000, 50)).toBe(true);
      const r = row(gw, requestId)!;
      expect(r).toMatchObject({ status: 504, error_code: "upstream_timeout" });
      expect(r.cost_micros).toBeGreaterThan(0);
      expect(gw.runtime.deps.credits.balance(c.accountId).held).toBe(0);
      // The client stopped reading: nothing the upstream did wrong, its breaker heard nothing.
      const up = (await (await gw.admin("/admin/upstreams")).json()) as { data: { failures: number }[] };
      expect(up.data[0]!.failures).toBe(0);
      socket.destroy();
      await expectExactLedger(gw, c.accountId, 10_000_000);
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });

  test("the sweeper leaves the hold of a request in flight alone, whatever its age", async () => {
    const gw = await single();
    try {
      const credits = gw.runtime.deps.credits;
      const c = await gw.customer(10_000_000);
      credits.reserve({ accountId: c.accountId, requestId: "req_live", amount: 1_000, ttlMs: 1, live: true });
      credits.reserve({ accountId: c.accountId, requestId: "req_orphan", amount: 2_000, ttlMs: 1 });
      await Bun.sleep(5);
      expect(await credits.sweep()).toBe(1);
      expect(credits.balance(c.accountId).held).toBe(1_000);
      await credits.settle("req_live", 700);
      expect(credits.balance(c.accountId)).toMatchObject({ held: 0, balance: 10_000_000 - 700 });
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });
});

describe("usage above the hold is charged", () => {
  test("20,005 tokens reported on a 16-token request are charged in full; the usage row and /metrics mark the overage", async () => {
    const gw = await single();
    try {
      const c = await gw.customer(10_000_000);
      const client = new OpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
      const mock = { completion_tokens: 5, reasoning_tokens: 20_000, prompt_tokens: 20, reasoning_beyond_max_tokens: true };
      const { data, response } = await client.chat.completions
        .create({ model: "grok-4", messages: user(), max_tokens: 16, mock } as never)
        .withResponse();
      expect(data.usage?.completion_tokens).toBe(20_005);
      const requestId = response.headers.get("x-request-id")!;
      const expected = costMicros({ prompt: 20, cached: 0, completion: 20_005, reasoning: 20_000 }, PRICES);
      expect(expected).toBe(300_135);
      const charges = await expectExactLedger(gw, c.accountId, 10_000_000);
      expect(charges.get(requestId)).toBe(expected);
      const r = row(gw, requestId)!;
      expect(r.overage_micros).toBeGreaterThan(0);
      expect(r.overage_micros).toBeLessThan(expected);
      const metrics = await (await gw.admin("/metrics")).text();
      expect(metrics).toMatch(new RegExp(`tollgate_overage_micros_total\\{model="grok-4"\\} ${r.overage_micros}\\b`));
      expect(metrics).toMatch(/tollgate_overage_charges_total\{model="grok-4"\} 1\b/);
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });

  test("an overage may take the balance below zero by that request; then nothing is admitted until it is positive again", async () => {
    const gw = await single();
    try {
      const c = await gw.customer(2_000);
      const mock = { completion_tokens: 5, reasoning_tokens: 1_000, prompt_tokens: 10, reasoning_beyond_max_tokens: true };
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 16, mock });
      expect(res.status).toBe(200);
      await res.json();
      const balance = gw.runtime.deps.credits.balance(c.accountId).balance;
      expect(balance).toBe(2_000 - costMicros({ prompt: 10, cached: 0, completion: 1_005, reasoning: 1_000 }, PRICES));
      expect(balance).toBeLessThan(0);
      const refused = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 1 });
      expect(refused.status).toBe(402);
      expect(((await refused.json()) as Err).error.code).toBe("insufficient_quota");
      await expectExactLedger(gw, c.accountId, 2_000);
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });

  test("a model's reasoning allowance is held on top of max_tokens when the balance covers it", async () => {
    const gw = await single({
      models: [{ id: "grok-4", provider: "fake", upstream_model: "grok-4-0709", ...PRICES_USD, max_output_tokens: 1000, reasoning_allowance_tokens: 2_000 }],
      providers: [{ id: "fake", base_url: upstream.url, kind: "xai", api_key: "k-000000000001" }],
    });
    try {
      const c = await gw.customer(10_000_000);
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 16, stream: true, mock: { chunk_delay_ms: 200, completion_tokens: 3 } });
      await until(() => gw.runtime.deps.credits.balance(c.accountId).held > 0, 2_000, 5);
      // (16 + 2,000) output tokens at 15 micros each, plus the prompt's upper bound.
      expect(gw.runtime.deps.credits.balance(c.accountId).held).toBeGreaterThan(2_016 * 15);
      await res.text();
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });
});

const PRICES_USD = { input_price: 3, cached_input_price: 0.75, output_price: 15 };

describe("client aborts", () => {
  test("a non-streaming answer is let finish after its client left and is charged its usage, not just the prompt", async () => {
    const gw = await single();
    try {
      const c = await gw.customer(10_000_000);
      const ac = new AbortController();
      const mock = { delay_ms: 600, completion_tokens: 2_000, prompt_tokens: 14 };
      const sent = chat(gw.url, c.key, { model: "grok-4", messages: user(), mock }, { signal: ac.signal }).catch(() => null);
      await Bun.sleep(300);
      ac.abort();
      await sent;
      expect(await until(() => chargeRows(gw.runtime.deps.store.sqlite, c.accountId).length === 1, 5_000, 20)).toBe(true);
      const [charge] = chargeRows(gw.runtime.deps.store.sqlite, c.accountId);
      expect(-charge!.amount_micros).toBe(costMicros({ prompt: 14, cached: 0, completion: 2_000, reasoning: 0 }, PRICES));
      expect(row(gw, charge!.request_id)).toMatchObject({ status: 499, error_code: "client_closed", estimated: 0 });
      await expectExactLedger(gw, c.accountId, 10_000_000);
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });

  test("a stream cut by its client is charged about the tokens it delivered, not twice that", async () => {
    const gw = await single();
    try {
      const c = await gw.customer(10_000_000);
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { completion_tokens: 200, chunk_delay_ms: 10 } });
      const requestId = res.headers.get("x-request-id")!;
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let delivered = 0;
      let text = "";
      while (delivered < 40) {
        const r = await reader.read();
        if (r.done) break;
        text += decoder.decode(r.value, { stream: true });
        delivered = (text.match(/"content":"[^"]+"/g) ?? []).length;
      }
      await reader.cancel();
      expect(await until(() => row(gw, requestId) !== null, 3_000)).toBe(true);
      const charged = row(gw, requestId)!.completion_tokens;
      // The gateway may have read a few chunks the client never saw.
      expect(charged).toBeGreaterThanOrEqual(delivered);
      expect(charged).toBeLessThan(delivered * 1.25 + 3);
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });
});

describe("spend caps", () => {
  test("a key at its cap is told so (which key), not that the account is out of credit", async () => {
    const gw = await single();
    try {
      const c = await gw.customer(114_000_000, { spend_cap_micros: 1_000 });
      const spend = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 10, mock: { completion_tokens: 10, prompt_tokens: 200 } });
      expect(spend.status).toBe(200);
      await spend.json();
      const refused = await chat(gw.url, c.key, { model: "grok-4", messages: user(), max_tokens: 100 });
      expect(refused.status).toBe(402);
      const e = ((await refused.json()) as Err).error;
      expect(e.code).toBe("spend_cap_reached");
      expect(e.message).toContain(c.keyId);
      expect(e.message).toContain("spending cap");
      expect(e.message).not.toContain("run out of credits");
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });

  test("rotating with grace does not multiply a cap: the key and its replacement spend against one cap", async () => {
    const gw = await single();
    try {
      const c = await gw.customer(100_000_000, { spend_cap_micros: 2_000 });
      const rotated = (await (await gw.admin(`/admin/keys/${c.keyId}/rotate`, { body: { grace_seconds: 3600 } })).json()) as { key: string };
      const keys = [c.key, rotated.key];
      let spent = 0;
      for (let i = 0; i < 40; i++) {
        const res = await chat(gw.url, keys[i % 2]!, { model: "grok-4", messages: user("x"), max_tokens: 4, mock: { completion_tokens: 4, prompt_tokens: 5 } });
        if (res.status !== 200) {
          expect(res.status).toBe(402);
          continue;
        }
        await res.json();
      }
      for (const r of chargeRows(gw.runtime.deps.store.sqlite, c.accountId)) spent -= r.amount_micros;
      expect(spent).toBeGreaterThan(1_500);
      expect(spent).toBeLessThanOrEqual(2_000);
    } finally {
      await gw.stop({ keepUpstream: true });
    }
  });
});

describe("an adjustment while journaled charges could not be written", () => {
  test("counts them as unavailable: the balance never goes below zero", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tg-adjust-"));
    // Charges stay in the journal for 10 s (fewer than the 16 of an early batch).
    const gw = await startGateway({ upstream: true, dbPath: join(dir, "t.db"), config: { settle_batch_ms: 10_000 } });
    try {
      const c = await gw.customer(20_000);
      for (let i = 0; i < 3; i++) {
        const res = await chat(gw.url, c.key, { model: "grok-4", max_tokens: 400, messages: user("hi"), mock: { prompt_tokens: 10, completion_tokens: 300 } });
        expect(res.status).toBe(200);
      }
      const charged = 3 * (10 * 3 + 300 * 15);
      // The write of the journaled charges fails (another process holds SQLite's write lock).
      gw.runtime.deps.store.setWriteBehind(() => undefined);
      const tooMuch = await gw.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: -(20_000 - charged + 1) } });
      expect(tooMuch.status).toBe(400);
      expect(((await tooMuch.json()) as { error: { code: string } }).error.code).toBe("insufficient_available_credit");
      const exact = await gw.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: -(20_000 - charged) } });
      expect(exact.status).toBe(201);
      gw.runtime.deps.store.setWriteBehind((gw.runtime.deps.credits as unknown as { catchUp: () => void }).catchUp);
      await gw.runtime.deps.credits.flush();
      expect((await gw.account(c.accountId)).balance_micros).toBe(0);
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a stream's charge that cannot be written at first (a full disk)", () => {
  test("is kept from the sweeper and written once the journal takes it again; the request logs one line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-full-"));
    const gw = await startGateway({ upstream: true, dbPath: join(dir, "tollgate.db") });
    try {
      const c = await gw.customer(10_000_000);
      const credits = gw.runtime.deps.credits;
      // The journal refuses every append, as on a full disk, until it is given back.
      const journal = (credits as unknown as { sink: { o: { journal: { append: (r: unknown[]) => void } } } }).sink.o.journal;
      const append = journal.append;
      journal.append = () => {
        throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      };
      const log = gw.runtime.deps.log;
      const lines: Record<string, unknown>[] = [];
      const events: string[] = [];
      const [request, event] = [log.request, log.event];
      log.request = (f) => (lines.push(f), request.call(log, f));
      log.event = (m, f, l) => (events.push(m), event.call(log, m, f, l));
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { prompt_tokens: 10, completion_tokens: 5 } });
      const id = res.headers.get("x-request-id")!;
      expect(await res.text()).toContain("Could not record the charge.");
      expect(credits.balance(c.accountId)).toMatchObject({ balance: 10_000_000 });
      // However late the sweeper runs meanwhile, the hold stays: its charge is still to come.
      await credits.sweep(Date.now() + 24 * 3_600_000);
      expect(credits.balance(c.accountId).held).toBeGreaterThan(0);
      journal.append = append;
      expect(await until(() => credits.balance(c.accountId).held === 0, 5_000)).toBe(true);
      expect(credits.balance(c.accountId).balance).toBe(10_000_000 - (10 * 3 + 5 * 15));
      expect(lines.filter((l) => l.request_id === id)).toEqual([expect.objectContaining({ error_code: "charge_pending", charge_micros: 0 })]);
      expect(events).toContain("charge_recorded");
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("is written at the stop when its retry has not come yet, not lost", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-full-"));
    const dbPath = join(dir, "tollgate.db");
    const gw = await startGateway({ upstream: true, dbPath });
    let id = "";
    let accountId = "";
    try {
      const c = await gw.customer(10_000_000);
      accountId = c.accountId;
      const journal = (gw.runtime.deps.credits as unknown as { sink: { o: { journal: { append: (r: unknown[]) => void } } } }).sink.o.journal;
      const append = journal.append;
      journal.append = () => {
        throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
      };
      const res = await chat(gw.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { prompt_tokens: 10, completion_tokens: 5 } });
      id = res.headers.get("x-request-id")!;
      expect(await res.text()).toContain("Could not record the charge.");
      // Space is back, and the gateway stops before the first retry (after 1 s) comes.
      journal.append = append;
    } finally {
      await gw.stop();
    }
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.query<{ n: number }, [string]>("SELECT count(*) AS n FROM ledger_entries WHERE request_id = ?").get(id)!.n).toBe(1);
      expect(db.query<{ b: number }, [string]>("SELECT balance_micros AS b FROM accounts WHERE id = ?").get(accountId)!.b).toBe(10_000_000 - (10 * 3 + 5 * 15));
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
