/**
 * What a request pays for its prompt when the upstream reports no usage of it (a stream cut
 * before its usage, a client that leaves, a whole or deferred answer without usage): the prompt
 * estimate, over the same parts of the request the hold's bound counts (instructions, system,
 * tool and function definitions, response formats, not only the messages), and for a Messages
 * stream whose message_start reports no input_tokens that estimate too, never a prompt of 0.
 * Text counts by its UTF-8 bytes (four a token): a Chinese or Japanese prompt, about a token a
 * character upstream, pays three quarters of that, not a quarter as four characters a token did.
 * Real HTTP on loopback, the gateway in front of the mock upstream (and, for answers it cannot
 * make, a scripted one); every charge is computed by hand from grok-4's prices.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { estimateTokens, promptEstimate, promptSizes, promptUpperBound } from "../src/gateway/estimate";
import { parseSse, until } from "./support/chat";
import { fakeCatalogue } from "./support/fake-upstream";
import { startGateway, type Customer, type Gateway } from "./support/gateway";
import { parseNamed } from "./support/mock-client";

setDefaultTimeout(60_000);

/** grok-4 in the test catalogue: 3 USD per 1M input tokens, 15 per 1M output, in micros per token. */
const IN = 3;
const OUT = 15;

/** The estimate's rule by hand: ⌈UTF-8 bytes of text / 4⌉ + 4 tokens a message (or input item); the figures' text is ASCII. */
const estimate = (bytes: number, items: number) => Math.ceil(bytes / 4) + 4 * items;

let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ upstream: true });
});
afterAll(() => gw?.stop());

type Row = { status: number; cost_micros: number; estimated: number; prompt_tokens: number; completion_tokens: number; error_code: string | null };

/** The account's one usage row, once written. */
async function rowOf(accountId: string): Promise<Row> {
  const read = () =>
    gw.runtime.deps.store.sqlite
      .query<Row, [string]>("SELECT status, cost_micros, estimated, prompt_tokens, completion_tokens, error_code FROM usage_log WHERE account_id = ?")
      .get(accountId);
  await until(() => read() != null, 5_000);
  return read()!;
}

/** What an account was charged: 10 USD of credit minus its balance once its request has settled. */
async function chargedTo(c: Customer): Promise<number> {
  await rowOf(c.accountId);
  return 10_000_000 - (await gw.balance(c.accountId));
}

const post = (c: Customer, path: string, body: unknown, signal?: AbortSignal) =>
  fetch(`${gw.url}/v1${path}`, { method: "POST", signal, headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" }, body: JSON.stringify(body) });

/** Output tokens a stream delivered: one a delta, every mock delta being one word (at most 12 characters). */
function deliveredOf(deltas: string[]): number {
  for (const d of deltas) expect(d.length).toBeLessThanOrEqual(12);
  return deltas.filter((d) => d.length > 0).length;
}

// 40,000 characters of instructions: 10,000 tokens, 30,000 micros, which the prompt estimate
// once left out (a cut stream paid the 2 characters of its input).
const INSTRUCTIONS = "z".repeat(40_000);
const DESCRIPTION = "d".repeat(8_000);
const responsesBody = {
  model: "grok-4",
  instructions: INSTRUCTIONS,
  input: "hi",
  tools: [{ type: "function", name: "lookup", description: DESCRIPTION, parameters: { type: "object", properties: {} } }],
  text: { format: { type: "json_schema", name: "answer", schema: { type: "object", properties: { city: { type: "string" } } } } },
  max_output_tokens: 100,
};
// One input item ("hi", 2); instructions 40,000; the tool: "function" 8 + "lookup" 6 + 8,000 +
// its parameters' schema, keys too ("type" 4 + "object" 6 + "properties" 10); the format:
// "json_schema" 11 + "answer" 6 + its schema ("type" 4 + "object" 6 + "properties" 10 + "city" 4
// + "type" 4 + "string" 6). Other keys are structure.
const RESPONSES_PROMPT = estimate(2 + 40_000 + (8 + 6 + 8_000 + 20) + (11 + 6 + 34), 1);

describe("Responses: instructions, tools and the text format are part of the prompt estimate", () => {
  test("the figure: 12,026 tokens", () => {
    expect(RESPONSES_PROMPT).toBe(12_026);
  });

  test("a stream the upstream cuts pays them, and the output delivered", async () => {
    const c = await gw.customer(10_000_000);
    const res = await post(c, "/responses", { ...responsesBody, stream: true, mock: { completion_tokens: 20, drop_after_chunks: 5 } });
    const raw = await res.text().catch(() => "");
    const deltas = parseNamed(raw).filter((e) => e.event === "response.output_text.delta").map((e) => e.data.delta as string);
    const delivered = deliveredOf(deltas);
    expect(delivered).toBeGreaterThan(0);
    expect(await chargedTo(c)).toBe(RESPONSES_PROMPT * IN + delivered * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ estimated: 1, prompt_tokens: RESPONSES_PROMPT, completion_tokens: delivered });
  });

  test("a client that reads the whole answer and leaves at response.output_text.done (OpenAI SDK) pays them", async () => {
    const c = await gw.customer(10_000_000);
    const openai = new OpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const stream = (await openai.responses.create({ ...responsesBody, stream: true, mock: { completion_tokens: 30, chunk_delay_ms: 5 } } as never)) as unknown as AsyncIterable<{ type: string; delta?: string }>;
    let deltas = 0;
    for await (const e of stream) {
      if (e.type === "response.output_text.delta") deltas++;
      // Leaving here, before response.completed, the stream has no usage: all 30 words were delivered.
      if (e.type === "response.output_text.done") break;
    }
    expect(deltas).toBe(30);
    expect(await chargedTo(c)).toBe(RESPONSES_PROMPT * IN + 30 * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ status: 499, estimated: 1, prompt_tokens: RESPONSES_PROMPT, completion_tokens: 30 });
  });

  test("a client that leaves before the first event pays the prompt estimate, all of it", async () => {
    const c = await gw.customer(10_000_000);
    const ac = new AbortController();
    const pending = post(c, "/responses", { ...responsesBody, stream: true, mock: { delay_ms: 3_000 } }, ac.signal).catch(() => null);
    await until(() => gw.upstream.requests.some((r) => (r.body as { instructions?: unknown }).instructions === INSTRUCTIONS && (r.body as { mock?: { delay_ms?: number } }).mock?.delay_ms === 3_000), 5_000);
    await Bun.sleep(100);
    ac.abort();
    await pending;
    expect(await chargedTo(c)).toBe(RESPONSES_PROMPT * IN);
    expect(await rowOf(c.accountId)).toMatchObject({ status: 499, estimated: 1, prompt_tokens: RESPONSES_PROMPT, completion_tokens: 0 });
  });
});

describe("chat: tools, functions and response_format are part of the prompt estimate", () => {
  const messages = [{ role: "user", content: "hi" }];
  const tools = [{ type: "function", function: { name: "lookup", description: DESCRIPTION, parameters: { type: "object", properties: {} } } }];
  const functions = [{ name: "legacy", description: "e".repeat(4_000) }];
  const response_format = { type: "json_schema", json_schema: { name: "answer", schema: { type: "object" } } };
  const body = { model: "grok-4", messages, tools, functions, response_format, max_tokens: 100 };
  // The message: "user" 4 + "hi" 2; tools: "function" 8 + "lookup" 6 + 8,000 + the parameters'
  // schema ("type" 4 + "object" 6 + "properties" 10); functions: "legacy" 6 + 4,000; the format:
  // "json_schema" 11 + "answer" 6 + its schema ("type" 4 + "object" 6).
  const PROMPT = estimate(6 + (8 + 6 + 8_000 + 20) + (6 + 4_000) + (11 + 6 + 10), 1);

  test("the figure: 3,023 tokens", () => {
    expect(PROMPT).toBe(3_023);
  });

  test("a stream the upstream cuts pays them, and the output delivered", async () => {
    const c = await gw.customer(10_000_000);
    const res = await post(c, "/chat/completions", { ...body, stream: true, mock: { completion_tokens: 20, drop_after_chunks: 5 } });
    const raw = await res.text().catch(() => "");
    const deltas = parseSse(raw)
      .events.map((e) => (e as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content)
      .filter((t): t is string => typeof t === "string");
    const delivered = deliveredOf(deltas);
    expect(delivered).toBeGreaterThan(0);
    expect(await chargedTo(c)).toBe(PROMPT * IN + delivered * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ estimated: 1, prompt_tokens: PROMPT, completion_tokens: delivered });
  });

  test("a whole answer without usage (OpenAI SDK) pays them, and its text's estimate", async () => {
    const c = await gw.customer(10_000_000);
    const openai = new OpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const answer = (await openai.chat.completions.create({ ...body, mock: { usage: "none", completion_tokens: 9 } } as never)) as unknown as OpenAI.ChatCompletion;
    expect(answer.usage).toBeUndefined();
    const text = answer.choices[0]!.message.content!;
    expect(await chargedTo(c)).toBe(PROMPT * IN + Math.ceil(text.length / 4) * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ estimated: 1, prompt_tokens: PROMPT });
  });

  test("a deferred result without usage pays them, and its text's estimate", async () => {
    const c = await gw.customer(10_000_000);
    const res = await post(c, "/chat/completions", { ...body, deferred: true, mock: { usage: "none", completion_tokens: 9, deferred_ms: 50 } });
    const { request_id: id } = (await res.json()) as { request_id: string };
    const fetched: { res?: Response } = {};
    await until(async () => {
      fetched.res = await fetch(`${gw.url}/v1/chat/deferred-completion/${id}`, { headers: { authorization: `Bearer ${c.key}` } });
      return fetched.res.status === 200;
    }, 5_000, 50);
    const answer = (await fetched.res!.json()) as { choices: { message: { content: string } }[] };
    const text = answer.choices[0]!.message.content;
    expect(await chargedTo(c)).toBe(PROMPT * IN + Math.ceil(text.length / 4) * OUT);
  });
});

describe("Messages: system and tools are part of the prompt estimate", () => {
  const system = "s".repeat(4_000);
  const tools = [{ name: "lookup", description: DESCRIPTION, input_schema: { type: "object", properties: {} } }];
  const body = { model: "grok-4", max_tokens: 100, system, tools, messages: [{ role: "user" as const, content: "hi" }] };
  // The message: "user" 4 + "hi" 2; system 4,000; the tool: "lookup" 6 + 8,000 + its input
  // schema ("type" 4 + "object" 6 + "properties" 10).
  const PROMPT = estimate(6 + 4_000 + (6 + 8_000 + 20), 1);
  const anthropic = (c: Customer) => new Anthropic({ apiKey: c.key, baseURL: gw.url, maxRetries: 0 });

  test("the figure: 3,012 tokens", () => {
    expect(PROMPT).toBe(3_012);
  });

  test("a whole answer without usage (Anthropic SDK) pays them, and its text's estimate", async () => {
    const c = await gw.customer(10_000_000);
    const answer = await anthropic(c).messages.create({ ...body, mock: { usage: "none", completion_tokens: 9 } } as never);
    const text = (answer.content[0] as { text: string }).text;
    expect(await chargedTo(c)).toBe(PROMPT * IN + Math.ceil(text.length / 4) * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ estimated: 1, prompt_tokens: PROMPT });
  });

  test("a stream without usage (Anthropic SDK) pays them, and the output delivered", async () => {
    const c = await gw.customer(10_000_000);
    const stream = (await anthropic(c).messages.create({ ...body, stream: true, mock: { usage: "none", completion_tokens: 7 } } as never)) as unknown as AsyncIterable<{
      type: string;
      delta?: { text?: string };
    }>;
    const deltas: string[] = [];
    for await (const e of stream) if (e.type === "content_block_delta" && e.delta?.text !== undefined) deltas.push(e.delta.text);
    expect(deliveredOf(deltas)).toBe(7);
    expect(await chargedTo(c)).toBe(PROMPT * IN + 7 * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ status: 200, estimated: 1, prompt_tokens: PROMPT, completion_tokens: 7 });
  });
});

describe("a Messages stream whose message_start reports no input_tokens pays the prompt estimate, not 0", () => {
  // 4,000 characters: the message is "user" 4 + 4,000, one message.
  const content = "y".repeat(4_000);
  const PROMPT = estimate(4 + 4_000, 1);
  const body = { model: "grok-4", max_tokens: 100, stream: true, messages: [{ role: "user", content }] };

  test("the figure: 1,005 tokens", () => {
    expect(PROMPT).toBe(1_005);
  });

  test("a whole stream without usage", async () => {
    const c = await gw.customer(10_000_000);
    const raw = await (await post(c, "/messages", { ...body, mock: { usage: "none", completion_tokens: 5 } })).text();
    expect(raw).toContain("message_stop");
    expect(await chargedTo(c)).toBe(PROMPT * IN + 5 * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ status: 200, estimated: 1, prompt_tokens: PROMPT, completion_tokens: 5 });
  });

  test("a stream without usage the upstream cuts", async () => {
    const c = await gw.customer(10_000_000);
    const raw = await (await post(c, "/messages", { ...body, mock: { usage: "none", completion_tokens: 20, drop_after_chunks: 5 } })).text().catch(() => "");
    const deltas = parseNamed(raw)
      .filter((e) => e.event === "content_block_delta")
      .map((e) => (e.data.delta as { text: string }).text);
    const delivered = deliveredOf(deltas);
    expect(delivered).toBeGreaterThan(0);
    expect(await chargedTo(c)).toBe(PROMPT * IN + delivered * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ estimated: 1, prompt_tokens: PROMPT, completion_tokens: delivered });
  });

  test("a stream that reports its prompt is charged it, as before", async () => {
    const c = await gw.customer(10_000_000);
    await (await post(c, "/messages", { ...body, mock: { prompt_tokens: 40, completion_tokens: 5 } })).text();
    expect(await chargedTo(c)).toBe(40 * IN + 5 * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ estimated: 0, prompt_tokens: 40 });
  });
});

describe("a Messages stream whose only usage is message_delta's output count", () => {
  let up: ReturnType<typeof Bun.serve>;
  let scripted: Gateway;
  const named = (type: string, o: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
  beforeAll(async () => {
    const events = [
      named("message_start", { message: { id: "msg_1", type: "message", role: "assistant", content: [] } }),
      ...["One", " two", " three"].map((text) => named("content_block_delta", { index: 0, delta: { type: "text_delta", text } })),
      named("message_delta", { delta: { stop_reason: "end_turn" }, usage: { output_tokens: 3 } }),
      named("message_stop", {}),
    ];
    up = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(events.join(""), { headers: { "content-type": "text/event-stream" } }) });
    scripted = await startGateway({ config: fakeCatalogue(`http://127.0.0.1:${up.port}/v1`) });
  });
  afterAll(async () => {
    await scripted?.stop();
    up?.stop(true);
  });

  test("is charged as a stream without usage: the prompt estimate and the output delivered", async () => {
    const c = await scripted.customer(10_000_000);
    const content = "y".repeat(4_000);
    const res = await fetch(`${scripted.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": c.key, "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "grok-4", max_tokens: 100, stream: true, messages: [{ role: "user", content }] }),
    });
    expect(await res.text()).toContain("message_stop");
    const row = () =>
      scripted.runtime.deps.store.sqlite.query<Row, [string]>("SELECT status, cost_micros, estimated, prompt_tokens, completion_tokens FROM usage_log WHERE account_id = ?").get(c.accountId);
    await until(() => row() != null, 5_000);
    // "user" 4 + 4,000 characters, one message: 1,005 tokens; three one-word deltas.
    expect(row()).toMatchObject({ status: 200, estimated: 1, prompt_tokens: 1_005, completion_tokens: 3 });
    expect(10_000_000 - (await scripted.balance(c.accountId))).toBe(1_005 * IN + 3 * OUT);
  });
});

describe("legacy completions: a prompt of token ids is estimated one token per id", () => {
  const ids = (n: number) => Array.from({ length: n }, (_, i) => 1_000 + i);

  test("one list of 2,000 ids: 2,004 tokens (not 4 a token)", async () => {
    const c = await gw.customer(10_000_000);
    const answer = (await (await post(c, "/completions", { model: "grok-4", prompt: ids(2_000), max_tokens: 50, mock: { usage: "none", completion_tokens: 6 } })).json()) as {
      choices: { text: string }[];
    };
    const text = answer.choices.map((ch) => ch.text).join("");
    expect(await chargedTo(c)).toBe((2_000 + 4) * IN + Math.ceil(text.length / 4) * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ estimated: 1, prompt_tokens: 2_004 });
  });

  test("a batch of 1,000 and 500 ids: 1,508 tokens (not 4 a prompt)", async () => {
    const c = await gw.customer(10_000_000);
    const answer = (await (await post(c, "/completions", { model: "grok-4", prompt: [ids(1_000), ids(500)], max_tokens: 50, mock: { usage: "none", completion_tokens: 6 } })).json()) as {
      choices: { text: string }[];
    };
    const text = answer.choices.map((ch) => ch.text).join("");
    expect(await chargedTo(c)).toBe((1_500 + 8) * IN + Math.ceil(text.length / 4) * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ estimated: 1, prompt_tokens: 1_508 });
  });
});

describe("legacy completions: the suffix is part of each prompt's estimate", () => {
  test("two prompts of 2 characters with a 4,000-character suffix: 2,009 tokens (the suffix twice)", async () => {
    const c = await gw.customer(10_000_000);
    const body = { model: "grok-4", prompt: ["hi", "yo"], suffix: "s".repeat(4_000), max_tokens: 50, mock: { usage: "none", completion_tokens: 6 } };
    const answer = (await (await post(c, "/completions", body)).json()) as { choices: { text: string }[] };
    const text = answer.choices.map((ch) => ch.text).join("");
    expect(await chargedTo(c)).toBe(estimate(2 + 2 + 8_000, 2) * IN + Math.ceil(text.length / 4) * OUT);
    expect(await rowOf(c.accountId)).toMatchObject({ estimated: 1, prompt_tokens: 2_009 });
  });

  test("a suffix that is not a string is refused in OpenAI's shape, and nothing is charged", async () => {
    const c = await gw.customer(10_000_000);
    const res = await post(c, "/completions", { model: "grok-4", prompt: "hi", suffix: 7, max_tokens: 5 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string } }).error.param).toBe("suffix");
    expect(await chargedTo(c)).toBe(0);
  });
});

describe("a non-Latin prompt is estimated by its UTF-8 bytes, not its characters", () => {
  // 22,000 Japanese characters (3 bytes each), which the upstream counts as about 20,000 tokens.
  const JAPANESE = "東京の天気はどうですか".repeat(2_000);
  const messages = [{ role: "user", content: JAPANESE }];
  // "user" 4 + 66,000 bytes, one message.
  const PROMPT = estimate(4 + 66_000, 1);

  test("the figures: 16,505 tokens (four characters a token made it 5,505), within the hold's bound", () => {
    expect(PROMPT).toBe(16_505);
    expect(promptEstimate({ messages })).toBe(PROMPT);
    expect(promptEstimate({ messages })).toBeLessThanOrEqual(promptUpperBound({ messages }));
    // Any API's parts (Responses' instructions, Messages' system): the estimate stays within the bound.
    const sizes = promptSizes([{ role: "user", content: [{ type: "input_text", text: JAPANESE }] }], [JAPANESE, [{ name: "天気", parameters: { 場所: { type: "string" } } }]]);
    expect(sizes.promptEstimate).toBeGreaterThan(2 * 16_500);
    expect(sizes.promptEstimate).toBeLessThanOrEqual(sizes.promptUpper);
    // ASCII is counted as before; an answer's text the same way as a prompt's.
    expect(estimateTokens("hello world!")).toBe(3);
    expect(estimateTokens("晴れ")).toBe(2);
  });

  test("a client that leaves a stream mid-answer (OpenAI SDK) pays the prompt's bytes / 4", async () => {
    const c = await gw.customer(10_000_000);
    const openai = new OpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const stream = await openai.chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: JAPANESE }], max_tokens: 100, stream: true, mock: { completion_tokens: 50, chunk_delay_ms: 20 } } as never);
    let deltas = 0;
    for await (const ch of stream as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) if (ch.choices[0]?.delta?.content && ++deltas === 3) break;
    const row = await rowOf(c.accountId);
    expect(row).toMatchObject({ status: 499, estimated: 1, prompt_tokens: PROMPT });
    expect(row.completion_tokens).toBeGreaterThanOrEqual(3);
    expect(await chargedTo(c)).toBe(PROMPT * IN + row.completion_tokens * OUT);
  });
});

describe("the chat prompt's two figures", () => {
  test("the estimate counts what the bound counts besides the messages, and never exceeds it", () => {
    const messages = [{ role: "user", content: "hello" }];
    const tools = [{ type: "function", function: { name: "f", description: "y".repeat(800) } }];
    const body = { messages, tools, functions: [{ name: "g", description: "x".repeat(400) }], response_format: { type: "json_object" } };
    // "user" 4 + "hello" 5; tools "function" 8 + "f" 1 + 800; functions "g" 1 + 400; "json_object" 11.
    expect(promptEstimate(body)).toBe(Math.ceil((4 + 5 + (8 + 1 + 800) + (1 + 400) + 11) / 4) + 4);
    expect(promptEstimate(body)).toBeLessThanOrEqual(promptUpperBound(body));
    for (let i = 0; i < 200; i++) {
      const text = () => "ab😀 é".repeat(Math.floor(Math.random() * 50));
      const random = {
        messages: [{ role: "user", content: text() }, { role: "assistant", content: [{ type: "text", text: text() }] }],
        tools: [{ type: "function", function: { name: text(), parameters: { type: "object", description: text() } } }],
        functions: [text(), 3, true, null],
        response_format: { type: text() },
      };
      expect(promptEstimate(random)).toBeLessThanOrEqual(promptUpperBound(random));
    }
  });
});
