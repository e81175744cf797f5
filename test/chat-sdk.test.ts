import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, streamText } from "ai";
import { startGateway, type Gateway } from "./support/gateway";

/** The official clients, unmodified but for base_url, against the real server on loopback. */
let g: Gateway;
let key: string;
let accountId: string;
let client: OpenAI;
const price = (p: number, o: number) => p * 3 + o * 15;
/** The SDK's APIPromise is a Promise subclass whose native state is not the request's: await it. */
async function failure(p: PromiseLike<unknown>) {
  try {
    await p;
  } catch (e) {
    return e as InstanceType<typeof OpenAI.APIError>;
  }
  throw new Error("expected the call to fail");
}

beforeAll(async () => {
  g = await startGateway({ upstream: true });
  ({ key, accountId } = await g.customer(10_000_000));
  client = new OpenAI({ apiKey: key, baseURL: `${g.url}/v1`, maxRetries: 0 });
});
afterAll(() => g.stop());

describe("openai SDK", () => {
  test("chat.completions.create without stream", async () => {
    const before = await g.balance(accountId);
    const r = await client.chat.completions.create({
      model: "grok-4",
      messages: [{ role: "user", content: "Hi" }],
      max_tokens: 64,
      // @ts-expect-error vendor field, forwarded untouched to the fake upstream
      mock: { prompt_tokens: 9, completion_tokens: 6 },
    });
    expect(r.object).toBe("chat.completion");
    expect(r.choices[0]!.message.content).toContain("Tollgate");
    expect(r.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 6, total_tokens: 15 });
    expect(r._request_id).toMatch(/^req_/);
    expect(before - (await g.balance(accountId))).toBe(price(9, 6));
  });

  test("chat.completions.create with stream and include_usage", async () => {
    const before = await g.balance(accountId);
    const stream = await client.chat.completions.create({
      model: "grok-4",
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
      stream_options: { include_usage: true },
      // @ts-expect-error vendor field
      mock: { prompt_tokens: 11, completion_tokens: 7 },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.split(" ")).toHaveLength(7);
    expect(usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 7 });
    expect(before - (await g.balance(accountId))).toBe(price(11, 7));
  });

  test("chat.completions.stream() helper", async () => {
    const before = await g.balance(accountId);
    const runner = client.chat.completions.stream({
      model: "grok-3",
      messages: [{ role: "user", content: "Hi" }],
      // the stream() helper's params type accepts extra fields: this one is for the fake upstream
      mock: { prompt_tokens: 4, completion_tokens: 5 },
    });
    const deltas: string[] = [];
    runner.on("content", (d) => deltas.push(d));
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]!.message.role).toBe("assistant");
    expect(final.choices[0]!.finish_reason).toBe("stop");
    expect(deltas.join("")).toBe(final.choices[0]!.message.content!);
    expect(before - (await g.balance(accountId))).toBe(price(4, 5));
  });

  test("models.list() and models.retrieve()", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(["cheap", "grok-3", "grok-4", "grok-4-plus", "grok-imagine-image"]);
    expect((await client.models.retrieve("grok-4")).owned_by).toBe("fake");
    expect(await failure(client.models.retrieve("nope"))).toBeInstanceOf(OpenAI.NotFoundError);
  });

  test("error classes and requestID: 401, 402, 404, 400", async () => {
    const bad = new OpenAI({ apiKey: "sk-tg-wrong", baseURL: `${g.url}/v1`, maxRetries: 0 });
    const e401 = await failure(bad.chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "x" }] }));
    expect(e401).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(e401.code).toBe("invalid_api_key");
    expect(e401.requestID).toMatch(/^req_/);

    const poor = await g.customer(50);
    const poorClient = new OpenAI({ apiKey: poor.key, baseURL: `${g.url}/v1` }); // default retries on
    const e402 = await failure(poorClient.chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "x" }] }));
    expect(e402).toBeInstanceOf(OpenAI.APIError);
    expect(e402.status).toBe(402);
    expect(e402.code).toBe("insufficient_quota");
    expect(e402.requestID).toMatch(/^req_/);

    const e404 = await failure(client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }));
    expect(e404).toBeInstanceOf(OpenAI.NotFoundError);
    expect(e404.code).toBe("model_not_found");

    const e400 = await failure(client.chat.completions.create({ model: "grok-4", messages: [] }));
    expect(e400).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e400.param).toBe("messages");
    expect(e400.requestID).toMatch(/^req_/);
  });

  test("a 402 is not retried by the SDK (x-should-retry: false)", async () => {
    const poor = await g.customer(50);
    const before = g.upstream.requests.length;
    let calls = 0;
    const counting = new OpenAI({
      apiKey: poor.key,
      baseURL: `${g.url}/v1`,
      maxRetries: 2,
      fetch: (url, init) => (calls++, fetch(url, init)),
    });
    expect(await failure(counting.chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "x" }] }))).toBeInstanceOf(OpenAI.APIError);
    expect(calls).toBe(1);
    expect(g.upstream.requests.length).toBe(before);
  });
});

describe("Vercel AI SDK (@ai-sdk/openai-compatible)", () => {
  const provider = () =>
    createOpenAICompatible({ name: "tollgate", baseURL: `${g.url}/v1`, apiKey: key });

  test("generateText", async () => {
    const before = await g.balance(accountId);
    const r = await generateText({ model: provider()("grok-4"), prompt: "Hello", maxRetries: 0 });
    expect(r.text).toContain("Tollgate");
    expect(r.usage.outputTokens).toBe(12);
    const spent = before - (await g.balance(accountId));
    expect(spent).toBe(price(r.usage.inputTokens!, r.usage.outputTokens!));
  });

  test("streamText: billed from the usage the gateway asked for, though the SDK did not", async () => {
    const before = await g.balance(accountId);
    const r = streamText({ model: provider()("grok-4"), prompt: "Hello", maxRetries: 0 });
    let text = "";
    for await (const t of r.textStream) text += t;
    expect(text).toContain("Tollgate");
    const sent = g.upstream.requests.at(-1)!;
    expect(sent.body.stream_options).toMatchObject({ include_usage: true });
    const u = g.upstream.requests.length;
    expect(u).toBeGreaterThan(0);
    const spent = before - (await g.balance(accountId));
    // The fake reports 12 output tokens and prompt = ceil(len(messages JSON) / 4).
    const prompt = Math.ceil(JSON.stringify(sent.body.messages).length / 4);
    expect(spent).toBe(price(prompt, 12));
  });
});
