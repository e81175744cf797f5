/**
 * Server-side tools over real HTTP, the gateway in front of the mock upstream: Live Search
 * sources (usage.num_sources_used) charged at the `live_search` tool price on list-priced models,
 * and the tool-call allowance held for chat's search_parameters and Messages' server tools.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { until, user } from "./support/chat";
import { fakeCatalogue, mockCostTicks, startFakeUpstream } from "./support/fake-upstream";
import { startGateway, type Customer, type Gateway } from "./support/gateway";
import { messagesDialect } from "../src/gateway/dialects/messages";
import { withMarkup } from "../src/money/pricing";

const TICKS_PER_MICRO = 10_000;
/** xAI's Live Search price: $25 per 1,000 sources, in micros per source. */
const SOURCE = 25_000;

let gw: Gateway;

beforeAll(async () => {
  const upstream = startFakeUpstream();
  // One model with its own source price, beside the test catalogue.
  const own = { id: "grok-sources", provider: "fake", input_price: 3, cached_input_price: 0.75, output_price: 15, max_output_tokens: 1000, tool_prices: { live_search: 10 } };
  gw = await startGateway({ upstream, config: { models: [...fakeCatalogue(upstream.url).models, own] } });
});
afterAll(() => gw?.stop());

function post(c: Customer, path: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(body),
  });
}

/** What one request took from the balance, and its answer's text. */
async function charged(c: Customer, body: Record<string, unknown>): Promise<{ micros: number; text: string }> {
  const before = await gw.balance(c.accountId);
  const res = await post(c, "/v1/chat/completions", body);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { micros: before - (await gw.balance(c.accountId)), text };
}

describe("Live Search sources", () => {
  const search = { search_parameters: { mode: "on" }, messages: user("news?") };
  const mock = { prompt_tokens: 10, completion_tokens: 5, sources: 20 };

  test("a list-priced model charges tokens + 20 sources at $25 per 1,000, whole and streamed", async () => {
    const c = await gw.customer(10_000_000);
    const expected = 10 * 3 + 5 * 15 + 20 * SOURCE;
    const whole = await charged(c, { model: "grok-4", ...search, mock });
    expect(whole.micros).toBe(expected);
    expect(JSON.parse(whole.text).usage.cost_in_usd_ticks).toBe(expected * TICKS_PER_MICRO);
    const streamed = await charged(c, { model: "grok-4", ...search, stream: true, stream_options: { include_usage: true }, mock });
    expect(streamed.micros).toBe(expected);
  });

  test("the source price is configurable per model (tool_prices.live_search)", async () => {
    const c = await gw.customer(10_000_000);
    expect((await charged(c, { model: "grok-sources", ...search, mock })).micros).toBe(10 * 3 + 5 * 15 + 20 * 10_000);
  });

  test("a cost_plus model charges the upstream's cost, which counts the sources, plus its markup", async () => {
    const c = await gw.customer(10_000_000);
    const cost = Math.ceil(mockCostTicks({ input_tokens: 10, output_tokens: 5, sources: 20 }) / TICKS_PER_MICRO);
    expect((await charged(c, { model: "grok-4-plus", ...search, mock })).micros).toBe(withMarkup(cost, 20));
  });
});

/** The credit a streamed request holds while it runs. */
async function heldDuring(c: Customer, path: string, body: Record<string, unknown>): Promise<{ held: number; status: number }> {
  const res = await post(c, path, { ...body, stream: true, mock: { completion_tokens: 3, chunk_delay_ms: 60 } });
  const credits = gw.runtime.deps.credits;
  await until(() => credits.balance(c.accountId).held > 0, 2_000, 5);
  const held = credits.balance(c.accountId).held;
  await res.text();
  return { held, status: res.status };
}

// grok-4: 5 calls (tool_call_allowance) of the dearest tool the request enables, on top of the tokens.
const WEB_ALLOWANCE = 5 * 5_000;
const SOURCE_ALLOWANCE = 5 * SOURCE;
const chatBody = (extra: Record<string, unknown>) => ({ model: "grok-4", max_tokens: 16, messages: user(), ...extra });

describe("the tool-call allowance of the hold", () => {
  test("chat: search_parameters hold 5 sources unless their mode is off", async () => {
    const c = await gw.customer(10_000_000);
    const auto = await heldDuring(c, "/v1/chat/completions", chatBody({ search_parameters: { mode: "auto" } }));
    expect(auto.held).toBeGreaterThanOrEqual(SOURCE_ALLOWANCE);
    const off = await heldDuring(c, "/v1/chat/completions", chatBody({ search_parameters: { mode: "off" } }));
    expect(off.held).toBeLessThan(WEB_ALLOWANCE);
  });

  test("Messages: Anthropic's web_search tool is held for as chat's web_search is", async () => {
    const c = await gw.customer(10_000_000);
    const chat = await heldDuring(c, "/v1/chat/completions", chatBody({ tools: [{ type: "web_search" }] }));
    const messages = await heldDuring(c, "/v1/messages", chatBody({ tools: [{ type: "web_search_20250305", name: "web_search", max_uses: 5 }] }));
    expect(chat.held).toBeGreaterThanOrEqual(WEB_ALLOWANCE);
    expect(messages.held).toBeGreaterThanOrEqual(WEB_ALLOWANCE);
    expect(messages.held).toBeLessThan(WEB_ALLOWANCE + 5_000);
    const plain = await heldDuring(c, "/v1/messages", chatBody({ tools: [{ name: "get_weather", input_schema: { type: "object" } }] }));
    expect(plain.held).toBeLessThan(WEB_ALLOWANCE);
  });

  test("Messages: server tools are read in Anthropic's versioned types; custom and client tools are not", () => {
    const tools = (...list: unknown[]) => messagesDialect.demand({ model: "grok-4", max_tokens: 16, messages: user(), tools: list }).tools;
    expect(tools({ type: "web_search_20250305", name: "web_search" })).toEqual(["web_search"]);
    expect(tools({ type: "code_execution_20250825", name: "code_execution" }, { type: "web_search_20260209", name: "web_search" })).toEqual(["code_execution", "web_search"]);
    expect(tools({ name: "web_search", input_schema: {} }, { type: "custom", name: "f" }, { type: "bash_20250124", name: "bash" }, { type: "web_search" })).toEqual([]);
  });

  test("Messages: a balance that covers the tokens but not the allowance is admitted without it, as chat is", async () => {
    const c = await gw.customer(10_000);
    const chat = await heldDuring(c, "/v1/chat/completions", chatBody({ tools: [{ type: "web_search" }] }));
    const messages = await heldDuring(c, "/v1/messages", chatBody({ tools: [{ type: "web_search_20250305", name: "web_search" }] }));
    expect([chat.status, messages.status]).toEqual([200, 200]);
    expect(chat.held).toBeLessThan(WEB_ALLOWANCE);
    expect(messages.held).toBeLessThan(WEB_ALLOWANCE);
  });
});
