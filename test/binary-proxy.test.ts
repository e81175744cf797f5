import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { startMockUpstream, type MockUpstream } from "../src/demo/mock-upstream";
import { until } from "./support/chat";
import { ensureBinary } from "./support/binary";
import { fakeCatalogue } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway } from "./support/gateway";

/** The "done when": the OpenAI SDK through the compiled binary, against a fake upstream. */
setDefaultTimeout(120_000);
const ADMIN = "binary-admin-token-0123456789";
const dir = mkdtempSync(join(tmpdir(), "tollgate-binproxy-"));
let upstream: MockUpstream;
let gw: BinaryGateway;
let key: string;
let accountId: string;
let client: OpenAI;

beforeAll(async () => {
  await ensureBinary();
  upstream = startMockUpstream();
  gw = await startBinaryGateway({ dir, config: fakeCatalogue(upstream.url), adminToken: ADMIN });
  ({ accountId, key } = await gw.customer(2_000_000, { name: "sdk" }, { name: "Binary customer" }));
  client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
});

afterAll(async () => {
  await gw?.stop("SIGKILL");
  await upstream?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("compiled binary + official OpenAI SDK", () => {
  test("non-streaming: balance drops by exactly usage × price", async () => {
    const before = await gw.balance(accountId);
    // @ts-expect-error vendor field for the fake upstream
    const r = await client.chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 20, completion_tokens: 9 } });
    expect(r.usage?.total_tokens).toBe(29);
    expect(before - (await gw.balance(accountId))).toBe(20 * 3 + 9 * 15);
  });

  test("streaming: balance drops by exactly usage × price", async () => {
    const before = await gw.balance(accountId);
    // @ts-expect-error vendor field for the fake upstream
    const s = await client.chat.completions.create({ model: "grok-4", stream: true, messages: [{ role: "user", content: "hi" }], mock: { prompt_tokens: 31, completion_tokens: 14, reasoning_tokens: 6, usage: "xai" } });
    let n = 0;
    for await (const c of s) n += c.choices.length;
    expect(n).toBeGreaterThan(14);
    expect(before - (await gw.balance(accountId))).toBe(31 * 3 + (14 + 6) * 15);
  });

  test("once it has written, the binary checkpoints SQLite's log on a thread of its own", async () => {
    // The checkpoint thread is a second entrypoint of the build: missing, the gauge would stay 0.
    const gauge = async () => /^tollgate_sqlite_checkpoint_thread 1$/m.test(await (await gw.admin("/metrics")).text());
    expect(await until(gauge, 10_000)).toBe(true);
  });

  test("a client abort closes the upstream connection", async () => {
    const abortedBefore = upstream.aborted;
    const ctrl = new AbortController();
    const s = await client.chat.completions.create(
      // @ts-expect-error vendor field for the fake upstream
      { model: "grok-4", stream: true, messages: [{ role: "user", content: "hi" }], mock: { hang: "body", after_chunks: 2 } },
      { signal: ctrl.signal },
    );
    let seen = 0;
    try {
      for await (const _ of s) if (++seen === 2) ctrl.abort();
    } catch {
      // the SDK reports the abort
    }
    expect(await until(() => upstream.aborted > abortedBefore, 1000)).toBe(true);
    expect(await until(async () => (await gw.account(accountId)).held_micros === 0)).toBe(true);
  });

  test("errors reach the SDK as the right classes", async () => {
    const wrong = new OpenAI({ apiKey: "sk-tg-nope", baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const errorOf = async (p: PromiseLike<unknown>) => {
      try {
        await p;
      } catch (e) {
        return e;
      }
      return null;
    };
    expect(await errorOf(wrong.models.list())).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(await errorOf(client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await errorOf(client.chat.completions.create({ model: "grok-4", messages: [] }))).toBeInstanceOf(OpenAI.BadRequestError);
    const e402 = (await errorOf(client.chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "x" }], max_tokens: 1_000_000 }))) as InstanceType<typeof OpenAI.APIError>;
    expect(e402.status).toBe(402);
    expect(e402.code).toBe("insufficient_quota");
  });
});

describe("tollgate demo (offline, built-in mock upstream)", () => {
  test("prints a working key and a curl command, streams, and the balance goes down", async () => {
    const demoDir = mkdtempSync(join(tmpdir(), "tollgate-demo-test-"));
    const demo = await startBinaryGateway({ args: ["demo"], dir: demoDir, adminToken: null });
    try {
      const out = demo.output();
      expect(out).toContain("MOCK upstream");
      expect(out).toMatch(/curl -N http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions/);
      expect(out).toMatch(/Charged \d+(\.\d+)? USD: balance 5 → 4\.\d+ USD/);
      const demoKey = /demo API key\s+(\S+)/.exec(out)![1]!;
      const base = /gateway\s+(http:\/\/\S+)/.exec(out)![1]!;
      const c = new OpenAI({ apiKey: demoKey, baseURL: base, maxRetries: 0 });
      const me = async () => ((await (await fetch(`${base}/me`, { headers: { authorization: `Bearer ${demoKey}` } })).json()) as { balance_micros: number }).balance_micros;
      const before = await me();
      const s = await c.chat.completions.create({ model: "grok-4", stream: true, messages: [{ role: "user", content: "Hello!" }] });
      let text = "";
      for await (const ch of s) text += ch.choices[0]?.delta?.content ?? "";
      expect(text.length).toBeGreaterThan(10);
      expect(await me()).toBeLessThan(before);
    } finally {
      await demo.stop();
      rmSync(demoDir, { recursive: true, force: true });
    }
  });
});
