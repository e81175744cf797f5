/**
 * The Responses API's metering over real HTTP, the gateway in front of the mock upstream: xAI's
 * accounting (reasoning outside output_tokens) charged in full, streamed and not, and shown so
 * when a stored response is read back; background mode
 * refused before any credit is held; a stream ending in response.failed shows the customer's
 * charge, never the upstream's cost.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { parseNamed } from "./support/mock-client";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

const TICKS_PER_MICRO = 10_000;

let gw: Gateway;
let c: Customer;

beforeAll(async () => {
  gw = await startGateway({ upstream: true });
  c = await gw.customer(10_000_000);
});
afterAll(() => gw?.stop());

const responses = (body: Record<string, unknown>) =>
  fetch(`${gw.url}/v1/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/** What one request took from the balance, and its answer's text. */
async function charged(body: Record<string, unknown>): Promise<{ micros: number; status: number; text: string }> {
  const before = await gw.balance(c.accountId);
  const res = await responses(body);
  const text = await res.text();
  return { micros: before - (await gw.balance(c.accountId)), status: res.status, text };
}

describe("xAI's accounting: output_tokens without reasoning, total_tokens with it", () => {
  // grok-4 in the test catalogue: 3 µ per input token, 15 µ per output token.
  const mock = { usage: "xai", prompt_tokens: 20, completion_tokens: 10, reasoning_tokens: 100 };
  const expected = 20 * 3 + 110 * 15;

  test("a whole answer is charged its reasoning too, and shows it in output_tokens and the cost", async () => {
    const { micros, status, text } = await charged({ model: "grok-4", input: "hi", mock });
    expect(status).toBe(200);
    expect(micros).toBe(expected);
    const usage = JSON.parse(text).usage;
    expect(usage).toMatchObject({ input_tokens: 20, output_tokens: 110, total_tokens: 130, output_tokens_details: { reasoning_tokens: 100 } });
    expect(usage.cost_in_usd_ticks).toBe(expected * TICKS_PER_MICRO);
  });

  test("a stream is charged its reasoning too (usage of response.completed)", async () => {
    const { micros, status, text } = await charged({ model: "grok-4", input: "hi", stream: true, mock });
    expect(status).toBe(200);
    expect(micros).toBe(expected);
    const last = parseNamed(text).at(-1)!;
    expect(last.event).toBe("response.completed");
    expect(last.data.response.usage).toMatchObject({ output_tokens: 110, cost_in_usd_ticks: expected * TICKS_PER_MICRO });
  });

  test("OpenAI's accounting (output_tokens with reasoning) is charged the same, not twice", async () => {
    const { micros } = await charged({ model: "grok-4", input: "hi", mock: { ...mock, usage: "openai" } });
    expect(micros).toBe(expected);
  });

  test("a stored response read back (the SDK's retrieve) shows the usage as its creation did, whole or streamed", async () => {
    const client = new OpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const whole = await client.responses.create({ model: "grok-4", input: "hi", mock } as never);
    const streamed = await client.responses.stream({ model: "grok-4", input: "hi", mock } as never).finalResponse();
    for (const created of [whole, streamed]) {
      expect(created.usage).toMatchObject({ output_tokens: 110, total_tokens: 130 });
      const got = await client.responses.retrieve(created.id);
      // Not the upstream's output_tokens (10, reasoning left out), nor its cost.
      expect(got.usage).toEqual(created.usage);
      expect((got.usage as unknown as { cost_in_usd_ticks: number }).cost_in_usd_ticks).toBe(expected * TICKS_PER_MICRO);
    }
  });
});

describe("background mode", () => {
  test("background: true is a 400 on param background before anything is held or sent upstream; false passes", async () => {
    const sent = gw.upstream.requests.length;
    const before = await gw.account(c.accountId);
    const res = await responses({ model: "grok-4", input: "hi", background: true, mock: { prompt_tokens: 5, completion_tokens: 5 } });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/json");
    const { error } = (await res.json()) as { error: { message: string; type: string; param: string; code: string } };
    expect(error).toMatchObject({ type: "invalid_request_error", param: "background", code: "unsupported_parameter" });
    expect(error.message).toContain("not supported");
    expect(gw.upstream.requests.length).toBe(sent);
    expect(await gw.account(c.accountId)).toMatchObject({ balance_micros: before.balance_micros, held_micros: 0 });

    const { micros, status } = await charged({ model: "grok-4", input: "hi", background: false, mock: { prompt_tokens: 5, completion_tokens: 5 } });
    expect(status).toBe(200);
    expect(micros).toBe(5 * 3 + 5 * 15);
  });

  test("the OpenAPI description of POST /v1/responses says so", async () => {
    const spec = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { paths: Record<string, { post?: { description?: string } }> };
    expect(spec.paths["/v1/responses"]?.post?.description).toContain("`background: true`");
  });
});

describe("a stream that ends in response.failed", () => {
  test("carrying the upstream's usage and cost: charged that usage, and shown the charge, not the upstream's cost", async () => {
    const mock = { prompt_tokens: 40, completion_tokens: 6, fail_stream: "failed", failed_usage: true, after_chunks: 2, cost_ticks: 123_456_789 };
    const { micros, status, text } = await charged({ model: "grok-4", input: "hi", stream: true, mock });
    expect(status).toBe(200);
    const expected = 40 * 3 + 6 * 15;
    expect(micros).toBe(expected);
    const last = parseNamed(text).at(-1)!;
    expect(last.event).toBe("response.failed");
    expect(last.data.response.status).toBe("failed");
    expect(last.data.response.usage.cost_in_usd_ticks).toBe(expected * TICKS_PER_MICRO);
    expect(text).not.toContain("123456789");
  });

  test("without usage: passed as it came, the delivered output charged as before", async () => {
    const { micros, text } = await charged({ model: "grok-4", input: "hi", stream: true, mock: { prompt_tokens: 40, fail_stream: "failed", after_chunks: 2 } });
    const last = parseNamed(text).at(-1)!;
    expect(last).toMatchObject({ event: "response.failed", data: { response: { status: "failed", usage: null } } });
    expect(micros).toBeGreaterThan(0);
  });
});
