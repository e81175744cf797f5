/**
 * The OpenAI SDK against the compiled binary on every OpenAI-shaped API: Responses (JSON,
 * stream, continuation, retrieve, delete, another account's id), legacy completions, images,
 * tokenize, deferred chat completions. Each charge to the micro; no answer shows the upstream's cost.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { until } from "./support/chat";
import { chargeRows, PRICES } from "./support/resilience";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway, type Customer } from "./support/gateway";
import { SqliteStore } from "../src/store/sqlite-store";
import { listCost, withMarkup } from "../src/money/pricing";
import { DEFAULT_TOOL_PRICES } from "../src/config/schema";

setDefaultTimeout(60_000);

let upstream: MockUpstream;
let gw: BinaryGateway;
let alice: Customer;
let bob: Customer;
const CREDITS = 10_000_000;
const TICKS_PER_MICRO = 10_000;

beforeAll(async () => {
  upstream = startFakeUpstream();
  gw = await startBinaryGateway({ dbPath: "t.db", config: { ...fakeCatalogue(upstream.url), ...SINGLE_SHOT, log_format: "off" } });
  alice = await gw.customer(CREDITS);
  bob = await gw.customer(CREDITS);
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.stop();
});

const client = (c: Customer) => new OpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
const prices = { ...PRICES, image_price: 20_000, tool_prices: DEFAULT_TOOL_PRICES };

/** The charges recorded for an account, by request id, read from its copy of the ledger. */
function charges(accountId: string): Map<string, number> {
  const store = new SqliteStore(gw.dbPath!);
  try {
    return new Map(chargeRows(store.sqlite, accountId).map((r) => [r.request_id, -r.amount_micros]));
  } finally {
    store.close();
  }
}

/** The charge of one request, once the gateway has written its journaled settlements to SQLite (within settle_batch_ms). */
async function chargeOf(accountId: string, requestId: string): Promise<number | undefined> {
  await until(() => charges(accountId).has(requestId), 3_000, 20);
  return charges(accountId).get(requestId);
}

async function account(c: Customer): Promise<{ balance_micros: number; held_micros: number }> {
  return (await (await gw.admin(`/admin/accounts/${c.accountId}`)).json()) as { balance_micros: number; held_micros: number };
}

describe("Responses API", () => {
  test("responses.create: JSON, billed from its usage with server-side tool calls; the cost field is the customer's charge", async () => {
    const mock = { prompt_tokens: 20, completion_tokens: 10, reasoning_tokens: 5, tools: { web_search: 2 } };
    const { data, response } = await client(alice)
      .responses.create({ model: "grok-4", input: "What happened today?", tools: [{ type: "web_search" }], mock } as never)
      .withResponse();
    expect(data.object).toBe("response");
    expect(data.output_text.length).toBeGreaterThan(0);
    expect(data.usage).toMatchObject({ input_tokens: 20, output_tokens: 15, output_tokens_details: { reasoning_tokens: 5 } });
    const expected = listCost({ prompt: 20, cached: 0, completion: 15, reasoning: 5, tools: { web_search: 2 } }, prices);
    expect(expected).toBe(20 * 3 + 15 * 15 + 2 * 5_000);
    expect(await chargeOf(alice.accountId, response.headers.get("x-request-id")!)).toBe(expected);
    expect((data.usage as unknown as { cost_in_usd_ticks: number }).cost_in_usd_ticks).toBe(expected * TICKS_PER_MICRO);
  });

  test("a cost_plus model charges the upstream's cost plus the markup, exactly", async () => {
    const mock = { prompt_tokens: 1_000, completion_tokens: 333, tools: { x_search: 3 } };
    const { data, response } = await client(alice).responses.create({ model: "grok-4-plus", input: "hi", mock } as never).withResponse();
    const upstreamCost = listCost({ prompt: 1_000, cached: 0, completion: 333, reasoning: 0, tools: { x_search: 3 } }, prices);
    const expected = withMarkup(upstreamCost, 20);
    expect(expected).toBe(Math.ceil((upstreamCost * 120) / 100));
    expect(await chargeOf(alice.accountId, response.headers.get("x-request-id")!)).toBe(expected);
    expect((data.usage as unknown as { cost_in_usd_ticks: number }).cost_in_usd_ticks).toBe(expected * TICKS_PER_MICRO);
  });

  test("a stream: named events, usage from response.completed, charged once; the last event comes after the charge", async () => {
    const stream = await client(alice).responses.create({ model: "grok-4", input: "Stream it", stream: true, mock: { prompt_tokens: 12, completion_tokens: 8 } } as never);
    const types: string[] = [];
    let text = "";
    let id = "";
    for await (const e of stream as unknown as AsyncIterable<{ type: string; delta?: string; response?: { id: string; usage: { cost_in_usd_ticks?: number } } }>) {
      types.push(e.type);
      if (e.type === "response.output_text.delta") text += e.delta;
      if (e.type === "response.completed") {
        id = e.response!.id;
        expect(e.response!.usage.cost_in_usd_ticks).toBe((12 * 3 + 8 * 15) * TICKS_PER_MICRO);
      }
    }
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
    expect(text.length).toBeGreaterThan(0);
    expect(id).toStartWith("resp_");
    await Bun.sleep(300);
    const usage = new SqliteStore(gw.dbPath!);
    try {
      const row = usage.sqlite.query<{ cost_micros: number; endpoint: string; stream: number }, [string]>("SELECT cost_micros, endpoint, stream FROM usage_log WHERE account_id = ? ORDER BY created_at DESC LIMIT 1").get(alice.accountId);
      expect(row).toEqual({ cost_micros: 12 * 3 + 8 * 15, endpoint: "responses", stream: 1 });
    } finally {
      usage.close();
    }
  });

  test("previous_response_id continues one's own response (held and billed for its history); another account's is a 404", async () => {
    const first = await client(alice).responses.create({ model: "grok-4", input: "Remember 42.", mock: { prompt_tokens: 30, completion_tokens: 6 } } as never);
    const next = await client(alice).responses.create({ model: "grok-4", input: "What number?", previous_response_id: first.id, mock: { prompt_tokens: 5, completion_tokens: 4 } } as never);
    // The mock bills the previous conversation again (as cached input): 30 + 6 tokens.
    expect(next.usage?.input_tokens).toBe(5 + 36);
    const stolen = await client(bob)
      .responses.create({ model: "grok-4", input: "What number?", previous_response_id: first.id } as never)
      .then(() => 200, (e: { status?: number }) => e.status);
    expect(stolen).toBe(404);
  });

  test("retrieve and delete: one's own stored response; another account gets 404 for the same id", async () => {
    const r = await client(alice).responses.create({ model: "grok-4", input: "Keep this.", mock: { prompt_tokens: 9, completion_tokens: 3 } } as never);
    const got = await client(alice).responses.retrieve(r.id);
    expect(got.id).toBe(r.id);
    expect((got.usage as unknown as { cost_in_usd_ticks: number }).cost_in_usd_ticks).toBe((9 * 3 + 3 * 15) * TICKS_PER_MICRO);
    const status = (p: Promise<unknown>) => p.then(() => 200, (e: { status?: number }) => e.status);
    expect(await status(client(bob).responses.retrieve(r.id))).toBe(404);
    expect(await status(client(bob).responses.delete(r.id))).toBe(404);
    await client(alice).responses.delete(r.id);
    expect(await status(client(alice).responses.retrieve(r.id))).toBe(404);
  });

  test("inputItems.list pages through the SDK's iterator: after, limit and order reach the upstream", async () => {
    const input = Array.from({ length: 5 }, (_, i) => ({ role: "user" as const, content: `message ${i}` }));
    const r = await client(alice).responses.create({ model: "grok-4", input, mock: { prompt_tokens: 9, completion_tokens: 3 } } as never);
    const texts: string[] = [];
    for await (const item of client(alice).responses.inputItems.list(r.id, { limit: 2 })) {
      texts.push(((item as { content: { text: string }[] }).content[0]!).text);
      if (texts.length > 10) break;
    }
    expect(texts).toEqual(["message 0", "message 1", "message 2", "message 3", "message 4"]);
    const newest = await client(alice).responses.inputItems.list(r.id, { order: "desc", limit: 1 });
    expect(newest.data.map((i) => ((i as { content: { text: string }[] }).content[0]!).text)).toEqual(["message 4"]);
  });
});

describe("legacy completions, images, tokenize", () => {
  test("completions.create, plain and streamed", async () => {
    const { data, response } = await client(alice).completions.create({ model: "grok-4", prompt: "Say hi", max_tokens: 20, mock: { prompt_tokens: 4, completion_tokens: 6 } } as never).withResponse();
    expect(data.object).toBe("text_completion");
    expect(await chargeOf(alice.accountId, response.headers.get("x-request-id")!)).toBe(4 * 3 + 6 * 15);
    const stream = await client(alice).completions.create({ model: "grok-4", prompt: "Say hi", max_tokens: 20, stream: true, stream_options: { include_usage: true }, mock: { prompt_tokens: 4, completion_tokens: 6 } } as never);
    let usage: { completion_tokens: number } | undefined;
    for await (const chunk of stream as unknown as AsyncIterable<{ usage?: { completion_tokens: number } }>) if (chunk.usage) usage = chunk.usage;
    expect(usage?.completion_tokens).toBe(6);
  });

  test("images.generate: n images at the model's image price, url and b64_json", async () => {
    const before = (await account(alice)).balance_micros;
    const urls = await client(alice).images.generate({ model: "grok-imagine-image", prompt: "a tollgate", n: 3 });
    expect(urls.data?.length).toBe(3);
    expect(urls.data?.[0]?.url).toBeString();
    const b64 = await client(alice).images.generate({ model: "grok-imagine-image", prompt: "a tollgate", n: 1, response_format: "b64_json" });
    expect(b64.data?.[0]?.b64_json).toBeString();
    expect(before - (await account(alice)).balance_micros).toBe(4 * 20_000);
    // A chat model is not an image model, and the other way round.
    const wrong = await client(alice).images.generate({ model: "grok-4", prompt: "x" }).then(() => 200, (e: { status?: number }) => e.status);
    expect(wrong).toBe(404);
  });

  test("images/edits: each source image is billed, one or several in a field", async () => {
    const edit = async (body: Record<string, unknown>) => {
      const before = (await account(alice)).balance_micros;
      const res = await fetch(`${gw.url}/v1/images/edits`, {
        method: "POST",
        headers: { authorization: `Bearer ${alice.key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "grok-imagine-image", prompt: "add a hat", n: 1, ...body }),
      });
      expect(res.status).toBe(200);
      return before - (await account(alice)).balance_micros;
    };
    const u = (i: number) => ({ url: `https://example.com/${i}.png` });
    // The image made plus its sources, each at the image price.
    expect(await edit({ image: u(1) })).toBe(2 * 20_000);
    expect(await edit({ image: [u(1), u(2), u(3)] })).toBe(4 * 20_000);
    expect(await edit({ images: [u(1), u(2)], mask: u(3) })).toBe(4 * 20_000);
  });

  test("tokenize-text is free and answered", async () => {
    const before = (await account(alice)).balance_micros;
    const res = await fetch(`${gw.url}/v1/tokenize-text`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "grok-4", text: "three short words" }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { token_ids: unknown[] }).token_ids.length).toBeGreaterThan(0);
    expect(res.headers.get("x-ratelimit-remaining-requests")).toBeString();
    expect((await account(alice)).balance_micros).toBe(before);
  });
});

describe("deferred chat completions", () => {
  test("deferred: true returns a request id and keeps the hold; the result is 202 until ready, then charged once; another account gets 404", async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "later" }], max_tokens: 50, deferred: true, mock: { deferred_ms: 400, prompt_tokens: 7, completion_tokens: 5 } }),
    });
    const { request_id: id } = (await res.json()) as { request_id: string };
    expect(id).toBe(res.headers.get("x-request-id")!);
    expect((await account(alice)).held_micros).toBeGreaterThan(0);
    const get = (c: Customer) => fetch(`${gw.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${c.key}` } });
    expect((await get(bob)).status).toBe(404);
    expect((await get(alice)).status).toBe(202);
    await Bun.sleep(500);
    const ready = await get(alice);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { usage: { cost_in_usd_ticks?: number } };
    expect(body.usage.cost_in_usd_ticks).toBe((7 * 3 + 5 * 15) * TICKS_PER_MICRO);
    const again = await get(alice);
    expect(again.status).toBe(200);
    await again.text();
    expect(await chargeOf(alice.accountId, id)).toBe(7 * 3 + 5 * 15);
    expect((await account(alice)).held_micros).toBe(0);
  });
});
