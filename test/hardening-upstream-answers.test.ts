/**
 * Upstream answers that are not what they claim: an error envelope sent with a 200, usage whose
 * counts are no counts, usage too large to charge after content was delivered, a cost in an
 * event that is not the last. None is charged as zero, none is charged when nothing was
 * delivered, and the operator's cost never reaches the customer.
 */
import { deltaTokens } from "../src/gateway/tap";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fakeCatalogue } from "./support/fake-upstream";
import { startGateway, type Customer, type Gateway } from "./support/gateway";
import { usageRow } from "./support/resilience";

/** What the upstream answers next (to any request). */
let reply: (req: Request) => Response = () => new Response("unset", { status: 500 });
let up: ReturnType<typeof Bun.serve>;
let gw: Gateway;
let c: Customer;

beforeAll(async () => {
  up = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => reply(req) });
  gw = await startGateway({ config: fakeCatalogue(`http://127.0.0.1:${up.port}/v1`) });
  c = await gw.customer(10_000_000);
});
afterAll(async () => {
  await gw?.stop();
  up?.stop(true);
});

const sse = (events: string[]) => new Response(events.join(""), { headers: { "content-type": "text/event-stream" } });
const data = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const named = (type: string, o: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
const completion = (usage: unknown) => ({ id: "c1", object: "chat.completion", model: "grok-4", choices: [{ index: 0, message: { role: "assistant", content: "Some answer of a few words." }, finish_reason: "stop" }], usage });

async function call(path: string, body: Record<string, unknown>) {
  const before = gw.runtime.deps.credits.balance(c.accountId);
  const res = await fetch(gw.url + path, {
    method: "POST",
    headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const after = gw.runtime.deps.credits.balance(c.accountId);
  const id = res.headers.get("x-request-id")!;
  return { status: res.status, text, charged: before.balance - after.balance, held: after.held, row: usageRow(gw.runtime.deps.store.sqlite, id) };
}
const chat = (extra: Record<string, unknown> = {}) => call("/v1/chat/completions", { model: "grok-4", max_tokens: 50, messages: [{ role: "user", content: "Hello there" }], ...extra });

describe("an error envelope or another shape with a 200 is not an answer", () => {
  const cases: [string, () => Promise<Awaited<ReturnType<typeof call>>>, () => Response][] = [
    ["chat: {error}", () => chat(), () => Response.json({ error: { message: "Internal error", type: "server_error" } })],
    ["chat: a request id it never asked to defer", () => chat(), () => Response.json({ request_id: "abc-123" })],
    ["messages: type error", () => call("/v1/messages", { model: "grok-4", max_tokens: 50, messages: [{ role: "user", content: "hi" }] }), () => Response.json({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })],
    ["responses: {error}", () => call("/v1/responses", { model: "grok-4", input: "hi" }), () => Response.json({ error: { message: "boom", type: "server_error" } })],
    ["image edit: {error}", () => call("/v1/images/edits", { model: "grok-imagine-image", prompt: "a cat", image: { url: "https://example.com/a.png" } }), () => Response.json({ error: { message: "Rejected by content moderation." } })],
  ];
  for (const [name, send, answer] of cases) {
    test(`${name}: 502 upstream_malformed, nothing charged, nothing held, nothing parked`, async () => {
      reply = answer;
      const r = await send();
      expect(r.status).toBe(502);
      expect(r.text).toContain("malformed response");
      expect({ charged: r.charged, held: r.held }).toEqual({ charged: 0, held: 0 });
      expect(r.row).toMatchObject({ status: 502, cost_micros: 0 });
    });
  }
  test("no deferred request is parked for a request that did not ask", () => {
    const n = gw.runtime.deps.store.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM deferred_requests").get()!.n;
    expect(n).toBe(0);
  });
});

describe("usage whose counts are no counts is charged as an answer without usage: estimated, never zero", () => {
  for (const [name, usage] of [
    ["strings", { prompt_tokens: "100", completion_tokens: "50", total_tokens: "150" }],
    ["negatives", { prompt_tokens: -100, completion_tokens: -50, total_tokens: -150 }],
    ["reasoning tokens as a string", { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, completion_tokens_details: { reasoning_tokens: "500" } }],
  ] as const) {
    test(`chat, whole: ${name}`, async () => {
      reply = () => Response.json(completion(usage));
      const r = await chat();
      expect(r.status).toBe(200);
      expect(r.row).toMatchObject({ status: 200, estimated: 1 });
      expect(r.charged).toBeGreaterThan(0);
      expect(r.charged).toBe(r.row!.cost_micros);
    });
  }

  test("chat, whole: fractional counts are rounded up", async () => {
    reply = () => Response.json(completion({ prompt_tokens: 10.2, completion_tokens: 4.5 }));
    const r = await chat();
    expect(r.row).toMatchObject({ prompt_tokens: 11, completion_tokens: 5, estimated: 0 });
    expect(r.charged).toBe(11 * 3 + 5 * 15);
  });

  test("chat, streamed: a usage chunk of strings", async () => {
    reply = () => sse([data({ choices: [{ index: 0, delta: { content: "Some streamed words here." } }] }), data({ choices: [], usage: { prompt_tokens: "100", completion_tokens: "50" } }), "data: [DONE]\n\n"]);
    const r = await chat({ stream: true, stream_options: { include_usage: true } });
    expect(r.status).toBe(200);
    expect(r.row).toMatchObject({ status: 200, estimated: 1 });
    expect(r.charged).toBeGreaterThan(0);
  });

  test("messages, streamed: output_tokens as a string; the cost in message_start never shown", async () => {
    reply = () =>
      sse([
        named("message_start", { message: { id: "msg_1", type: "message", role: "assistant", content: [], usage: { input_tokens: 12, output_tokens: 0, cost_in_usd_ticks: 1234567 } } }),
        named("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Some streamed words here." } }),
        named("message_delta", { delta: { stop_reason: "end_turn" }, usage: { output_tokens: "20" } }),
        named("message_stop", {}),
      ]);
    const r = await call("/v1/messages", { model: "grok-4", max_tokens: 50, stream: true, messages: [{ role: "user", content: "hi" }] });
    expect(r.status).toBe(200);
    expect(r.text).not.toContain("1234567");
    expect(r.row).toMatchObject({ status: 200, estimated: 1, prompt_tokens: 12 });
    expect(r.charged).toBeGreaterThan(12 * 3);
  });
});

test("usage without a prompt count is no usage: the prompt is estimated, not free", async () => {
  reply = () => Response.json(completion({ completion_tokens: 5 }));
  const whole = await chat();
  expect(whole.row).toMatchObject({ status: 200, estimated: 1 });
  expect(whole.row!.prompt_tokens).toBeGreaterThan(0);
  reply = () => Response.json({ id: "resp_U", object: "response", status: "completed", model: "grok-4", store: false, output: [{ type: "message", id: "msg_u", role: "assistant", content: [{ type: "output_text", text: "Some words." }] }], usage: { output_tokens: 3 } });
  const responses = await call("/v1/responses", { model: "grok-4", input: "Hello there", max_output_tokens: 50, store: false });
  expect(responses.row).toMatchObject({ status: 200, estimated: 1 });
  expect(responses.row!.prompt_tokens).toBeGreaterThan(0);
  reply = () => Response.json({ id: "msg_u", type: "message", role: "assistant", model: "grok-4", content: [{ type: "text", text: "Some words." }], stop_reason: "end_turn", usage: { output_tokens: 3 } });
  const messages = await call("/v1/messages", { model: "grok-4", max_tokens: 50, messages: [{ role: "user", content: "Hello there" }] });
  expect(messages.row).toMatchObject({ status: 200, estimated: 1 });
  expect(messages.row!.prompt_tokens).toBeGreaterThan(0);
});

test("messages: web searches reported in Anthropic's own usage shape are charged as tool calls", async () => {
  const usage = { input_tokens: 10, output_tokens: 5, server_tool_use: { web_search_requests: 2 } };
  reply = () => Response.json({ id: "msg_t", type: "message", role: "assistant", model: "grok-4", content: [{ type: "text", text: "Found it." }], stop_reason: "end_turn", usage });
  const r = await call("/v1/messages", { model: "grok-4", max_tokens: 50, messages: [{ role: "user", content: "search" }] });
  expect(r.status).toBe(200);
  // grok-4: 3 and 15 micros a token; web search 5 USD per 1,000 calls.
  expect(r.charged).toBe(10 * 3 + 5 * 15 + 2 * 5_000);
});

describe("a whole answer without usage is charged the estimate of all it generated", () => {
  const args = JSON.stringify({ city: "Paris", units: "celsius", days: 5, detail: "hourly forecast with wind and rain" });
  const tokens = (text: string) => Math.ceil(text.length / 4);
  test("chat: a tool call's name and arguments", async () => {
    reply = () => Response.json({ id: "c2", object: "chat.completion", model: "grok-4", choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: args } }] }, finish_reason: "tool_calls" }] });
    const r = await chat();
    expect(r.row).toMatchObject({ status: 200, estimated: 1, completion_tokens: tokens(`get_weather${args}`) });
  });
  test("chat: a legacy function call, and content given as text parts", async () => {
    reply = () => Response.json({ id: "c3", object: "chat.completion", model: "grok-4", choices: [{ index: 0, message: { role: "assistant", content: null, function_call: { name: "get_weather", arguments: args } }, finish_reason: "function_call" }] });
    expect((await chat()).row).toMatchObject({ status: 200, estimated: 1, completion_tokens: tokens(`get_weather${args}`) });
    reply = () => Response.json({ id: "c4", object: "chat.completion", model: "grok-4", choices: [{ index: 0, message: { role: "assistant", content: [{ type: "text", text: args }] }, finish_reason: "stop" }] });
    expect((await chat()).row).toMatchObject({ status: 200, estimated: 1, completion_tokens: tokens(args) });
  });
  test("messages: a tool_use block's name and input", async () => {
    const input = JSON.parse(args);
    reply = () => Response.json({ id: "msg_2", type: "message", role: "assistant", model: "grok-4", content: [{ type: "tool_use", id: "toolu_1", name: "get_weather", input }], stop_reason: "tool_use" });
    const r = await call("/v1/messages", { model: "grok-4", max_tokens: 50, messages: [{ role: "user", content: "hi" }] });
    expect(r.row).toMatchObject({ status: 200, estimated: 1, completion_tokens: tokens(`get_weather${JSON.stringify(input)}`) });
  });
  test("responses: a function call's name and arguments, and reasoning", async () => {
    const output = [
      { type: "reasoning", id: "rs_1", summary: [{ type: "summary_text", text: "The user wants the weather." }] },
      { type: "function_call", id: "fc_1", call_id: "call_1", name: "get_weather", arguments: args, status: "completed" },
    ];
    reply = () => Response.json({ id: "resp_F", object: "response", status: "completed", model: "grok-4", store: false, output });
    const r = await call("/v1/responses", { model: "grok-4", input: "Hello there", max_output_tokens: 50, store: false });
    expect(r.row).toMatchObject({ status: 200, estimated: 1, completion_tokens: tokens(`The user wants the weather.get_weather${args}`) });
  });
});

describe("streams", () => {
  const responsesStream = (completedUsage: unknown, createdUsage: unknown = null) =>
    sse([
      named("response.created", { response: { id: "resp_B", object: "response", status: "in_progress", usage: createdUsage } }),
      named("response.output_text.delta", { delta: "Hello world, and more words." }),
      named("response.completed", { response: { id: "resp_B", object: "response", status: "completed", output: [], ...(completedUsage ? { usage: completedUsage } : {}) } }),
    ]);

  test("a Responses stream without usage is charged an estimate and its response recorded for its owner", async () => {
    reply = (req) => (req.method === "GET" ? Response.json({ id: "resp_B", object: "response", status: "completed", output: [] }) : responsesStream(null));
    const r = await call("/v1/responses", { model: "grok-4", input: "Hello there", stream: true, max_output_tokens: 50 });
    expect(r.row).toMatchObject({ status: 200, estimated: 1 });
    const got = await fetch(`${gw.url}/v1/responses/resp_B`, { headers: { authorization: `Bearer ${c.key}` } });
    expect(got.status).toBe(200);
  });

  test("an upstream cost in response.created never reaches the customer", async () => {
    reply = () => responsesStream({ input_tokens: 5, output_tokens: 7, total_tokens: 12 }, { input_tokens: 5, output_tokens: 0, cost_in_usd_ticks: 7654321 });
    const r = await call("/v1/responses", { model: "grok-4", input: "Hello there", stream: true, max_output_tokens: 50 });
    expect(r.status).toBe(200);
    expect(r.text).not.toContain("7654321");
    expect(r.charged).toBe(5 * 3 + 7 * 15);
  });

  test("the error event the gateway adds to a Responses stream is numbered after the upstream's events", async () => {
    reply = () =>
      sse([
        named("response.created", { sequence_number: 0, response: { id: "resp_C", object: "response", status: "in_progress" } }),
        named("response.output_text.delta", { sequence_number: 1, delta: "Hello world, and more words." }),
        "event: response.output_text.delta\ndata: {not json\n\n",
      ]);
    const r = await call("/v1/responses", { model: "grok-4", input: "Hello there", stream: true, max_output_tokens: 50 });
    const error = r.text.split("\n\n").find((e) => e.startsWith("event: error"));
    expect(JSON.parse(error!.slice(error!.indexOf("data: ") + 6))).toMatchObject({ type: "error", sequence_number: 2 });
  });

  test("cost_plus: a prompt's cost in message_start is not the request's when message_delta has none", async () => {
    const msg = { id: "msg_1", type: "message", role: "assistant", model: "grok-4", content: [], stop_reason: null, stop_sequence: null };
    reply = () =>
      sse([
        named("message_start", { message: { ...msg, usage: { input_tokens: 1000, output_tokens: 1, cost_in_usd_ticks: 30_000_000 } } }),
        named("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hi" } }),
        named("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 500 } }),
        named("message_stop", {}),
      ]);
    const r = await call("/v1/messages", { model: "grok-4-plus", max_tokens: 1000, stream: true, messages: [{ role: "user", content: "hi" }] });
    expect(r.status).toBe(200);
    // No final cost: the list prices (1,000 × 3 + 500 × 15; docs/billing.md), not the prompt's cost with the markup.
    expect(r.charged).toBe(1000 * 3 + 500 * 15);
  });

  test("a chat stream of a legacy function call without usage: its deltas are delivered output", async () => {
    const parts = ['{"city": "Paris", ', '"units": "celsius", ', '"days": 5, "detail": "hourly"}'];
    reply = () => sse([data({ choices: [{ index: 0, delta: { role: "assistant", function_call: { name: "get_weather", arguments: "" } } }] }), ...parts.map((p) => data({ choices: [{ index: 0, delta: { function_call: { arguments: p } } }] })), "data: [DONE]\n\n"]);
    const r = await chat({ stream: true });
    expect(r.row).toMatchObject({ estimated: 1, completion_tokens: 1 + parts.reduce((n, p) => n + deltaTokens(p), 0) });
  });

  test("usage too large to charge after content was delivered: the prompt and what was delivered, estimated", async () => {
    reply = () => sse([data({ choices: [{ index: 0, delta: { content: "Some streamed words here." } }] }), data({ choices: [], usage: { prompt_tokens: 1e17, completion_tokens: 5 } }), "data: [DONE]\n\n"]);
    const r = await chat({ stream: true });
    expect(r.row).toMatchObject({ estimated: 1 });
    expect(r.charged).toBeGreaterThan(0);
    expect(r.held).toBe(0);
  });
});
