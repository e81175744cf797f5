/**
 * Responses and Messages streams ended early, through the official SDKs against the compiled
 * binary: a client that aborts mid-stream (the upstream request is closed, the stream charged its
 * prompt and the output delivered, status 499), and SIGTERM mid-stream (each SDK raises the
 * gateway's error event in its API's shape; exit 0; each stream charged once; nothing held).
 */
import Anthropic from "@anthropic-ai/sdk";
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { checkLedgerSync } from "../src/money/ledger";
import { SqliteStore } from "../src/store/sqlite-store";
import { until } from "./support/chat";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway, type Customer } from "./support/gateway";

setDefaultTimeout(120_000);
const CREDITS = 10_000_000;
/** grok-4 in the fake catalogue: 3 micros a prompt token, 15 an output token. */
const IN = 3;
const OUT = 15;
/** The upstream sends four output deltas, then nothing more (a model that stalls). */
const STALLS = { hang: "body", after_chunks: 4, prompt_tokens: 10, completion_tokens: 30 } as const;

let upstream: MockUpstream;
let dir: string;

beforeAll(() => {
  upstream = startFakeUpstream();
  dir = mkdtempSync(join(tmpdir(), "tollgate-sdk-ends-"));
});
afterAll(async () => {
  await upstream?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Row = { status: number; estimated: number; prompt_tokens: number; completion_tokens: number; cost_micros: number; charge: number | null };

/** The request's usage row and ledger charge, read beside the running gateway (WAL readers do not block it). */
function rowOf(dbPath: string, requestId: string): Row | null {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db
      .query<Row, [string]>(
        `SELECT u.status, u.estimated, u.prompt_tokens, u.completion_tokens, u.cost_micros,
           (SELECT -amount_micros FROM ledger_entries l WHERE l.request_id = u.request_id AND l.kind = 'charge') AS charge
         FROM usage_log u WHERE u.request_id = ?`,
      )
      .get(requestId);
  } finally {
    db.close();
  }
}

async function charged(dbPath: string, requestId: string): Promise<Row> {
  let row: Row | null = null;
  expect(await until(() => (row = rowOf(dbPath, requestId)) !== null, 5_000)).toBe(true);
  return row!;
}

const openai = (gw: BinaryGateway, c: Customer) => new OpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
const anthropic = (gw: BinaryGateway, c: Customer) => new Anthropic({ apiKey: c.key, baseURL: gw.url, maxRetries: 0 });

/** A Responses stream through the OpenAI SDK, read until `deltas` output deltas came; the rest is read by `rest`. */
async function responsesStream(gw: BinaryGateway, c: Customer, deltas: number, signal?: AbortSignal) {
  const { data, response } = await openai(gw, c)
    .responses.create({ model: "grok-4", input: "hi", stream: true, mock: STALLS } as never, { signal })
    .withResponse();
  const it = (data as unknown as AsyncIterable<{ type: string; code?: string }>)[Symbol.asyncIterator]();
  let seen = 0;
  while (seen < deltas) if ((await it.next()).value?.type === "response.output_text.delta") seen++;
  const rest = async () => {
    for (;;) if ((await it.next()).done) return;
  };
  return { requestId: response.headers.get("x-request-id")!, rest };
}

/** A Messages stream through the Anthropic SDK (its stream helper), read until `deltas` text deltas came. */
async function messagesStream(gw: BinaryGateway, c: Customer, deltas: number) {
  const stream = anthropic(gw, c).messages.stream({ model: "grok-4", max_tokens: 100, messages: [{ role: "user", content: "hi" }], mock: STALLS } as never);
  let seen = 0;
  const enough = new Promise<void>((resolve) => stream.on("text", () => ++seen === deltas && resolve()));
  const { response } = await stream.withResponse();
  await enough;
  return { requestId: response.headers.get("x-request-id")!, stream };
}

describe("a client that aborts mid-stream, through the SDKs", () => {
  let gw: BinaryGateway;
  beforeAll(async () => {
    gw = await startBinaryGateway({ dir, dbPath: "aborts.db", config: { ...fakeCatalogue(upstream.url), ...SINGLE_SHOT, log_format: "off" } });
  });
  afterAll(() => gw?.stop());

  test("Responses (OpenAI SDK, its signal): the upstream request is closed; prompt and delivered output charged, 499", async () => {
    const c = await gw.customer(CREDITS);
    const before = upstream.aborted;
    const ac = new AbortController();
    const { requestId, rest } = await responsesStream(gw, c, 2, ac.signal);
    ac.abort();
    // The OpenAI SDK ends a stream its signal aborted quietly.
    expect(await rest().then(() => "ended", (e: Error) => e.name)).toBe("ended");
    expect(await until(() => upstream.aborted > before, 2_000)).toBe(true);
    const row = await charged(gw.dbPath!, requestId);
    // No usage came (it is in response.completed): the prompt estimate and the deltas delivered.
    expect(row).toMatchObject({ status: 499, estimated: 1 });
    expect(row.completion_tokens).toBeGreaterThanOrEqual(2);
    expect(row.completion_tokens).toBeLessThanOrEqual(4);
    expect(row.charge).toBe(row.prompt_tokens * IN + row.completion_tokens * OUT);
    expect(row.cost_micros).toBe(row.charge!);
    const account = await gw.account(c.accountId);
    expect([account.balance_micros, account.held_micros]).toEqual([CREDITS - row.charge!, 0]);
  });

  test("Messages (Anthropic SDK, stream.abort()): the upstream request is closed; message_start's prompt and delivered output charged, 499", async () => {
    const c = await gw.customer(CREDITS);
    const before = upstream.aborted;
    const { requestId, stream } = await messagesStream(gw, c, 2);
    stream.abort();
    expect(await stream.done().then(() => "ended", (e: Error) => e.name)).toBe("APIUserAbortError");
    expect(await until(() => upstream.aborted > before, 2_000)).toBe(true);
    const row = await charged(gw.dbPath!, requestId);
    expect(row).toMatchObject({ status: 499, estimated: 1, prompt_tokens: 10 });
    expect(row.completion_tokens).toBeGreaterThanOrEqual(2);
    expect(row.completion_tokens).toBeLessThanOrEqual(4);
    expect(row.charge).toBe(10 * IN + row.completion_tokens * OUT);
    const account = await gw.account(c.accountId);
    expect([account.balance_micros, account.held_micros]).toEqual([CREDITS - row.charge!, 0]);
  });
});

describe("SIGTERM mid-stream, through the SDKs", () => {
  test("each SDK raises the gateway's shutdown error in its API's shape; exit 0; each stream charged once; nothing held", async () => {
    const gw = await startBinaryGateway({
      dir,
      dbPath: "sigterm.db",
      config: { ...fakeCatalogue(upstream.url), ...SINGLE_SHOT, log_format: "off", shutdown_grace_ms: 1_000 },
    });
    try {
      const c = await gw.customer(CREDITS);
      const responses = await responsesStream(gw, c, 2);
      const messages = await messagesStream(gw, c, 2);
      const ended = [responses.rest().then(() => null, (e: unknown) => e), messages.stream.done().then(() => null, (e: unknown) => e)];
      gw.proc.kill("SIGTERM");
      expect(await gw.proc.exited).toBe(0);
      const [r, m] = await Promise.all(ended);
      // Responses' error event ({type: "error", code, message}) as the OpenAI SDK raises it.
      expect(r).toBeInstanceOf(OpenAI.APIError);
      expect((r as InstanceType<typeof OpenAI.APIError>).code).toBe("server_shutting_down");
      // Messages' (overloaded_error, what Anthropic's clients retry) as the Anthropic SDK raises it.
      expect(m).toBeInstanceOf(Anthropic.APIError);
      expect(((m as InstanceType<typeof Anthropic.APIError>).error as { error: { type: string } }).error.type).toBe("overloaded_error");

      const store = new SqliteStore(gw.dbPath!);
      try {
        expect(checkLedgerSync(store)).toEqual([]);
        expect(store.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM credit_holds").get()!.n).toBe(0);
      } finally {
        store.close();
      }
      const rows = [rowOf(gw.dbPath!, responses.requestId)!, rowOf(gw.dbPath!, messages.requestId)!];
      for (const row of rows) {
        expect(row.estimated).toBe(1);
        expect(row.completion_tokens).toBeGreaterThanOrEqual(2);
        expect(row.charge).toBe(row.prompt_tokens * IN + row.completion_tokens * OUT);
      }
      expect(rows[1]!.prompt_tokens).toBe(10);
    } finally {
      await gw.stop("SIGKILL");
    }
  });
});
