/**
 * The mock xAI upstream's streams, event by event (chat, completions, Responses, Messages), and
 * its faults on every endpoint: status, hang, delay, fail_times, drop, malformed, fail_stream.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mockCostTicks, startMockUpstream, type MockUpstream } from "../src/demo/mock-upstream";
import { until } from "./support/chat";
import { mockClient, parseNamed, readUntilBroken } from "./support/mock-client";

let up: MockUpstream;
beforeAll(() => {
  up = startMockUpstream();
});
afterAll(() => up.stop());
const { post, get } = mockClient(() => up);
const user = [{ role: "user", content: "Hello there" }];
const stream = async (path: string, body: Record<string, unknown>, headers?: Record<string, string>) => parseNamed(await (await post(path, { stream: true, ...body }, headers)).text());

describe("chat and completions streams", () => {
  test("chat: role, a chunk per token, finish, usage with cost and tools, [DONE]", async () => {
    const mock = { prompt_tokens: 9, completion_tokens: 3, tools: { x_search: 2 } };
    const events = await stream("/chat/completions", { model: "grok-4", messages: user, stream_options: { include_usage: true }, mock });
    expect(events.map((e) => e.data.choices?.[0]?.delta ?? e.data)).toEqual([{ role: "assistant", content: "" }, { content: "Tollgate" }, { content: " meters" }, { content: " every" }, {}, expect.objectContaining({ choices: [] }), "[DONE]"]);
    expect(events[5]!.data.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 3, num_server_side_tools_used: 2, cost_in_usd_ticks: mockCostTicks({ input_tokens: 9, output_tokens: 3, tools: { x_search: 2 } }) });
  });

  test("chat: fail_stream sends an error chunk after after_chunks tokens, no [DONE]", async () => {
    const events = await stream("/chat/completions", { model: "grok-4", messages: user, mock: { fail_stream: "error", after_chunks: 2 } });
    expect(events).toHaveLength(4);
    expect(events.at(-1)!.data).toEqual({ error: expect.objectContaining({ message: expect.any(String), type: "server_error" }) });
  });

  test("completions: a chunk per token, the finish, usage (choices []), [DONE]", async () => {
    const events = await stream("/completions", { model: "grok-3", prompt: "Hi", stream_options: { include_usage: true }, mock: { prompt_tokens: 2, completion_tokens: 2 } });
    expect(events.map((e) => (e.data === "[DONE]" ? e.data : e.data.choices))).toEqual([
      [{ text: "Tollgate", index: 0, logprobs: null, finish_reason: null }],
      [{ text: " meters", index: 0, logprobs: null, finish_reason: null }],
      [{ text: "", index: 0, logprobs: null, finish_reason: "stop" }],
      [],
      "[DONE]",
    ]);
    expect(events[0]!.data).toMatchObject({ object: "text_completion", id: expect.stringMatching(/^cmpl-/) });
    expect(events[3]!.data.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 2, total_tokens: 4, cost_in_usd_ticks: mockCostTicks({ input_tokens: 2, output_tokens: 2 }) });
  });
});

describe("Responses stream", () => {
  const ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
  ];

  test("named events in order, numbered, the text in deltas, the usage in response.completed; no [DONE]", async () => {
    const mock = { prompt_tokens: 15, completion_tokens: 3, tools: { code_execution: 1 } };
    const res = await post("/responses", { model: "grok-4", input: "Hi", stream: true, mock });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const raw = await res.text();
    expect(raw).not.toContain("[DONE]");
    const events = parseNamed(raw);
    expect(events.map((e) => e.event)).toEqual(ORDER);
    events.forEach((e, i) => expect([e.data.type, e.data.sequence_number]).toEqual([e.event, i]));
    expect(events[0]!.data.response).toMatchObject({ status: "in_progress", usage: null, output: [] });
    const deltas = events.filter((e) => e.event === "response.output_text.delta");
    expect(deltas[0]!.data).toEqual({ type: "response.output_text.delta", sequence_number: 4, item_id: expect.stringMatching(/^msg_/), output_index: 0, content_index: 0, delta: "Tollgate" });
    const text = deltas.map((e) => e.data.delta).join("");
    expect(events[7]!.data.text).toBe(text);
    const done = events.at(-1)!.data.response;
    expect(done).toMatchObject({ status: "completed", output: [{ type: "message", content: [{ type: "output_text", text }] }] });
    expect(done.usage).toMatchObject({ input_tokens: 15, output_tokens: 3, num_server_side_tools_used: 1, cost_in_usd_ticks: mockCostTicks({ input_tokens: 15, output_tokens: 3, tools: { code_execution: 1 } }) });
    // Stored as it ended.
    expect(await (await get(`/responses/${done.id}`)).json()).toEqual(done);
  });

  test("reasoning comes first as its own output item", async () => {
    const events = await stream("/responses", { model: "grok-4", input: "Hi", mock: { completion_tokens: 1, reasoning_tokens: 5 } });
    expect(events.slice(2, 5).map((e) => [e.event, e.data.output_index, e.data.item?.type])).toEqual([
      ["response.output_item.added", 0, "reasoning"],
      ["response.output_item.done", 0, "reasoning"],
      ["response.output_item.added", 1, "message"],
    ]);
    expect(events.at(-1)!.data.response.usage.output_tokens_details).toEqual({ reasoning_tokens: 5 });
  });

  test('fail_stream "failed" ends with response.failed, "error" with an error event', async () => {
    const failed = await stream("/responses", { model: "grok-4", input: "Hi", mock: { fail_stream: "failed", after_chunks: 2 } });
    expect(failed.map((e) => e.event)).toEqual([...ORDER.slice(0, 6), "response.failed"]);
    expect(failed.at(-1)!.data).toMatchObject({ sequence_number: 6, response: { status: "failed", error: { code: expect.any(String), message: expect.any(String) } } });
    const stored = (await (await get(`/responses/${failed.at(-1)!.data.response.id}`)).json()) as Record<string, unknown>;
    expect(stored.status).toBe("failed");
    const errored = await stream("/responses", { model: "grok-4", input: "Hi", mock: { fail_stream: "error", after_chunks: 1 } });
    expect(errored.at(-1)).toEqual({ event: "error", data: { type: "error", code: expect.any(String), message: expect.any(String), param: null, sequence_number: 5 } });
  });

  test("drop_after_chunks breaks the connection after that many deltas; a malformed chunk, then the rest", async () => {
    const dropped = await readUntilBroken(await post("/responses", { model: "grok-4", input: "Hi", stream: true, mock: { drop_after_chunks: 2 } }));
    expect(dropped.broken).toBe(true);
    expect(parseNamed(dropped.raw).map((e) => e.event)).toEqual(ORDER.slice(0, 6));
    const raw = await (await post("/responses", { model: "grok-4", input: "Hi", stream: true, mock: { malformed_after_chunks: 1 } })).text();
    const blocks = raw.split("\n\n").filter(Boolean);
    expect(() => JSON.parse(blocks[5]!.split("data:")[1]!)).toThrow();
    expect(blocks.at(-1)).toStartWith("event: response.completed");
  });
});

describe("Messages stream", () => {
  test("message_start (input usage, output 1), ping, a text_delta per token, message_delta (cumulative output, cost), message_stop", async () => {
    const mock = { prompt_tokens: 40, cached_tokens: 10, completion_tokens: 2, reasoning_tokens: 1 };
    const events = await stream("/messages", { model: "grok-4", max_tokens: 50, messages: user, mock }, { "x-api-key": "k", authorization: "" });
    expect(events.map((e) => e.event)).toEqual(["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]);
    events.forEach((e) => expect(e.data.type).toBe(e.event));
    expect(events[0]!.data.message).toMatchObject({ type: "message", role: "assistant", content: [], stop_reason: null, usage: { input_tokens: 30, cache_read_input_tokens: 10, cache_creation_input_tokens: 0, output_tokens: 1 } });
    expect(events[3]!.data).toEqual({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Tollgate" } });
    expect(events[6]!.data).toEqual({
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 3, cost_in_usd_ticks: mockCostTicks({ input_tokens: 40, cached_tokens: 10, output_tokens: 3 }) },
    });
  });

  test("tool_use streams as input_json_delta; fail_stream sends an error event in Anthropic's envelope", async () => {
    const input = { city: "Paris", days: 3 };
    const events = await stream("/messages", { model: "grok-4", max_tokens: 50, messages: user, mock: { completion_tokens: 1, tool_use: { name: "weather", input } } });
    const tool = events.filter((e) => e.data.index === 1);
    expect(tool[0]!.data.content_block).toMatchObject({ type: "tool_use", name: "weather", input: {} });
    expect(JSON.parse(tool.filter((e) => e.event === "content_block_delta").map((e) => e.data.delta.partial_json).join(""))).toEqual(input);
    expect(events.at(-2)!.data.delta.stop_reason).toBe("tool_use");
    const failed = await stream("/messages", { model: "grok-4", max_tokens: 50, messages: user, mock: { fail_stream: "error", after_chunks: 1 } });
    expect(failed.map((e) => e.event)).toEqual(["message_start", "content_block_start", "ping", "content_block_delta", "error"]);
    expect(failed.at(-1)!.data).toEqual({ type: "error", error: { type: "overloaded_error", message: expect.any(String) } });
  });
});

describe("faults on every endpoint", () => {
  const POSTS: [string, Record<string, unknown>][] = [
    ["/chat/completions", { model: "m", messages: user }],
    ["/completions", { model: "m", prompt: "x" }],
    ["/responses", { model: "m", input: "x" }],
    ["/images/generations", { model: "m", prompt: "x" }],
    ["/images/edits", { model: "m", prompt: "x", image: { url: "u" } }],
    ["/tokenize-text", { model: "m", text: "x" }],
  ];

  test("status, error_body and retry_after", async () => {
    for (const [path, body] of POSTS) {
      const res = await post(path, { ...body, mock: { status: 503, retry_after: "2", error_body: { code: "Service unavailable", error: "busy" } } });
      expect([path, res.status, res.headers.get("retry-after")]).toEqual([path, 503, "2"]);
      expect(await res.json()).toEqual({ code: "Service unavailable", error: "busy" });
    }
  });

  test("GET endpoints take their faults from the defaults; fail_times lets the retry through", async () => {
    const other = startMockUpstream({ defaults: { status: 500, fail_times: 2 } });
    try {
      expect((await fetch(`${other.url}/models`)).status).toBe(500);
      expect((await fetch(`${other.url}/language-models`)).status).toBe(500);
      expect((await fetch(`${other.url}/language-models`)).status).toBe(200);
      other.setDefaults({ delay_ms: 150 });
      const t0 = performance.now();
      expect((await fetch(`${other.url}/image-generation-models`)).status).toBe(200);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    } finally {
      await other.stop();
    }
  });

  test("hang: headers never come; body stops after the deltas sent (the client going away counts as aborted)", async () => {
    for (const mock of [{ hang: "headers" }, { hang: "body", after_chunks: 1 }]) {
      const aborted = up.aborted;
      const ctrl = new AbortController();
      const res = post("/responses", { model: "m", input: "x", stream: true, mock }, {}, { signal: ctrl.signal }).then(async (r) => r.text());
      setTimeout(() => ctrl.abort(), 150);
      await expect(res).rejects.toThrow();
      expect(await until(() => up.aborted > aborted, 1000)).toBe(true);
    }
  });

  test("chunk_delay_ms spaces a Messages stream; fail_times on a stream fault", async () => {
    const t0 = performance.now();
    await stream("/messages", { model: "m", max_tokens: 9, messages: user, mock: { completion_tokens: 2, chunk_delay_ms: 40 } });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(7 * 40 - 10);
    const mock = { fail_stream: "failed", fail_times: 1, completion_tokens: 1 };
    expect((await stream("/responses", { model: "m", input: "x", mock })).at(-1)!.event).toBe("response.failed");
    expect((await stream("/responses", { model: "m", input: "x", mock })).at(-1)!.event).toBe("response.completed");
  });
});
