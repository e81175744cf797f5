/**
 * The frameworks customers use, pointed at the compiled binary: the AI SDK with @ai-sdk/openai
 * (whose default model calls the Responses API) and @ai-sdk/anthropic, and LangChain's
 * ChatOpenAI with useResponsesApi. What each reports as usage is what the account paid.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createOpenAI } from "@ai-sdk/openai";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, streamText } from "ai";
import { until } from "./support/chat";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway, type Customer } from "./support/gateway";
import { chargeRows } from "./support/resilience";
import { SqliteStore } from "../src/store/sqlite-store";

setDefaultTimeout(60_000);

let upstream: MockUpstream;
let gw: BinaryGateway;
let c: Customer;

beforeAll(async () => {
  upstream = startFakeUpstream({ defaults: { prompt_tokens: 25, completion_tokens: 11 } });
  gw = await startBinaryGateway({ dbPath: "t.db", config: { ...fakeCatalogue(upstream.url), ...SINGLE_SHOT, log_format: "off" } });
  c = await gw.customer(10_000_000);
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.stop();
});

const COST = 25 * 3 + 11 * 15;

/** Waits for the account's charges to reach `count` and returns them, newest last. */
async function chargesOf(count: number): Promise<number[]> {
  const read = () => {
    const store = new SqliteStore(gw.dbPath!);
    try {
      return chargeRows(store.sqlite, c.accountId).map((r) => -r.amount_micros);
    } finally {
      store.close();
    }
  };
  await until(() => read().length >= count, 3_000, 20);
  return read();
}

let made = 0;
const lastPath = () => upstream.requests.at(-1)!.path.replace(/^\/v1/, "");

describe("the AI SDK", () => {
  test("@ai-sdk/openai's default model calls the Responses API: generateText and streamText", async () => {
    const openai = createOpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1` });
    const r = await generateText({ model: openai("grok-4"), prompt: "Say something.", maxRetries: 0 });
    expect(lastPath()).toBe("/responses");
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.usage.inputTokens).toBe(25);
    expect(r.usage.outputTokens).toBe(11);
    const s = streamText({ model: openai("grok-4"), prompt: "Stream something.", maxRetries: 0 });
    let text = "";
    for await (const t of s.textStream) text += t;
    expect(text.length).toBeGreaterThan(0);
    expect((await s.usage).outputTokens).toBe(11);
    made += 2;
    expect((await chargesOf(made)).slice(-2)).toEqual([COST, COST]);
  });

  test("@ai-sdk/anthropic calls the Messages API", async () => {
    const anthropic = createAnthropic({ apiKey: c.key, baseURL: `${gw.url}/v1` });
    const r = await generateText({ model: anthropic("grok-4"), prompt: "Say something.", maxRetries: 0 });
    expect(lastPath()).toBe("/messages");
    expect(r.text.length).toBeGreaterThan(0);
    expect(r.usage.outputTokens).toBe(11);
    made += 1;
    expect((await chargesOf(made)).at(-1)).toBe(COST);
  });
});

describe("LangChain", () => {
  test("ChatOpenAI with useResponsesApi", async () => {
    const model = new ChatOpenAI({ model: "grok-4", apiKey: c.key, configuration: { baseURL: `${gw.url}/v1` }, useResponsesApi: true, maxRetries: 0 });
    const msg = await model.invoke("Say something.");
    expect(lastPath()).toBe("/responses");
    expect(String(msg.content).length).toBeGreaterThan(0);
    expect(msg.usage_metadata).toMatchObject({ input_tokens: 25, output_tokens: 11 });
    made += 1;
    expect((await chargesOf(made)).at(-1)).toBe(COST);
  });

  test("ChatOpenAI with a built-in tool goes through the Responses API and pays for the tool calls", async () => {
    upstream.setDefaults({ prompt_tokens: 25, completion_tokens: 11, tools: { web_search: 1 } });
    try {
      const model = new ChatOpenAI({ model: "grok-4", apiKey: c.key, configuration: { baseURL: `${gw.url}/v1` }, maxRetries: 0 }).bindTools([{ type: "web_search" }]);
      const msg = await model.invoke("What is new today?");
      expect(lastPath()).toBe("/responses");
      expect(String(msg.content).length).toBeGreaterThan(0);
      made += 1;
      expect((await chargesOf(made)).at(-1)).toBe(COST + 5_000);
    } finally {
      upstream.setDefaults({ prompt_tokens: 25, completion_tokens: 11 });
    }
  });
});
