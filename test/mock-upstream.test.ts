/**
 * The mock xAI upstream itself (src/demo/mock-upstream.ts), called directly: every endpoint's
 * shape, its usage and cost in ticks, tool usage, stored responses, deferred completions, the
 * Anthropic dialect, images, tokenizer and model lists. Streams and faults: mock-upstream-streams.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mockCostTicks, mockLanguageModel, startMockUpstream, TINY_PNG_BASE64, type MockUpstream } from "../src/demo/mock-upstream";
import { mockClient } from "./support/mock-client";

let up: MockUpstream;
beforeAll(() => {
  up = startMockUpstream();
});
afterAll(() => up.stop());
const { post, get, del, json } = mockClient(() => up);
const user = [{ role: "user", content: "Hello there" }];
const TOOLS = { web_search: 2, x_search: 1, code_execution: 1, collections_search: 1, attachment_search: 1 };

describe("cost in ticks", () => {
  test("tokens at $3 / $0.75 / $15 per 1M, images at $0.02, tools per 1,000 calls", () => {
    expect(mockCostTicks({ input_tokens: 1000, cached_tokens: 400, output_tokens: 200 })).toBe(600 * 30_000 + 400 * 7_500 + 200 * 150_000);
    expect(mockCostTicks({ images: 3 })).toBe(3 * 200_000_000);
    // $5 / 1k (web, x, code), $2.50 / 1k (collections), $10 / 1k (attachments).
    expect(mockCostTicks({ tools: TOOLS })).toBe(4 * 50_000_000 + 25_000_000 + 100_000_000);
    expect(mockCostTicks({ input_tokens: 1_000_000 })).toBe(3 * 10_000_000_000);
  });
});

describe("POST /chat/completions", () => {
  test("usage carries the cost of its tokens (reasoning billed as output), no tool fields unless asked", async () => {
    const mock = { prompt_tokens: 100, cached_tokens: 40, completion_tokens: 10, reasoning_tokens: 5 };
    const body = await json("/chat/completions", { model: "grok-4-0709", messages: user, mock });
    expect(body).toMatchObject({ object: "chat.completion", choices: [{ index: 0, message: { role: "assistant" }, finish_reason: "stop" }] });
    expect(body.usage).toEqual({
      prompt_tokens: 100,
      completion_tokens: 15,
      total_tokens: 115,
      prompt_tokens_details: { cached_tokens: 40 },
      completion_tokens_details: { reasoning_tokens: 5 },
      cost_in_usd_ticks: mockCostTicks({ input_tokens: 100, cached_tokens: 40, output_tokens: 15 }),
    });
  });

  test("server-side tools: every counter, their sum, and their price in the cost", async () => {
    const mock = { prompt_tokens: 10, completion_tokens: 2, tools: TOOLS };
    const { usage } = await json("/chat/completions", { model: "grok-4", messages: user, mock });
    expect(usage.server_side_tool_usage_details).toEqual({
      web_search_calls: 2,
      x_search_calls: 1,
      code_interpreter_calls: 1,
      file_search_calls: 1,
      document_search_calls: 1,
      mcp_calls: 0,
      image_generation_calls: 0,
    });
    expect(usage.num_server_side_tools_used).toBe(6);
    expect(usage.cost_in_usd_ticks).toBe(mockCostTicks({ input_tokens: 10, output_tokens: 2, tools: TOOLS }));
  });

  test("cost_ticks replaces the cost; null removes it", async () => {
    const given = await json("/chat/completions", { model: "m", messages: user, mock: { cost_ticks: 12_345 } });
    expect(given.usage.cost_in_usd_ticks).toBe(12_345);
    const none = await json("/chat/completions", { model: "m", messages: user, mock: { cost_ticks: null } });
    expect(none.usage).not.toHaveProperty("cost_in_usd_ticks");
  });

  test("requests records method, path, body and headers", async () => {
    await post("/chat/completions", { model: "m", messages: user, mock: { completion_tokens: 1 } }, { "x-trace": "t1" });
    const last = up.requests.at(-1)!;
    expect(last).toMatchObject({ method: "POST", path: "/v1/chat/completions", body: { model: "m" }, headers: { "x-trace": "t1", authorization: "Bearer upstream-key" } });
    await get("/models");
    expect(up.requests.at(-1)).toMatchObject({ method: "GET", path: "/v1/models", body: {} });
  });
});

describe("deferred chat completions", () => {
  test("request_id at once; 202 while pending, then the completion once (as xAI serves it), then 404; or forgotten", async () => {
    const mock = { prompt_tokens: 30, completion_tokens: 4, deferred_ms: 150, deferred_forget_ms: 700 };
    const started = await post("/chat/completions", { model: "grok-4", messages: user, deferred: true, mock });
    expect(started.status).toBe(200);
    const { request_id } = (await started.json()) as { request_id: string };
    expect(request_id).toMatch(/^[0-9a-f-]{36}$/);
    const pending = await get(`/chat/deferred-completion/${request_id}`);
    expect(pending.status).toBe(202);
    expect(await pending.text()).toBe("");
    await Bun.sleep(200);
    const done = await get(`/chat/deferred-completion/${request_id}`);
    expect(done.status).toBe(200);
    const body = (await done.json()) as Record<string, any>;
    expect(body).toMatchObject({ object: "chat.completion", choices: [{ finish_reason: "stop" }] });
    expect(body.usage).toMatchObject({ prompt_tokens: 30, completion_tokens: 4, cost_in_usd_ticks: mockCostTicks({ input_tokens: 30, output_tokens: 4 }) });
    const served = await get(`/chat/deferred-completion/${request_id}`);
    expect(served.status).toBe(404);
    expect(await served.json()).toMatchObject({ code: "Some requested entity was not found" });
    // Never fetched: forgotten after deferred_forget_ms.
    const other = (await (await post("/chat/completions", { model: "grok-4", messages: user, deferred: true, mock })).json()) as { request_id: string };
    await Bun.sleep(750);
    expect((await get(`/chat/deferred-completion/${other.request_id}`)).status).toBe(404);
  });

  test("pending 200 ms by default; an unknown id is 404", async () => {
    const { request_id } = await json("/chat/completions", { model: "grok-4", messages: user, deferred: true });
    expect((await get(`/chat/deferred-completion/${request_id}`)).status).toBe(202);
    const unknown = await get("/chat/deferred-completion/no-such-id");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ code: "Some requested entity was not found", error: expect.any(String) });
  });
});

describe("POST /completions (legacy)", () => {
  test("a text completion; max_tokens defaults to 16 and cuts with finish_reason length", async () => {
    const cut = await json("/completions", { model: "grok-3", prompt: "1, 2, 3,", mock: { prompt_tokens: 7, completion_tokens: 30 } });
    expect(cut).toMatchObject({ id: expect.stringMatching(/^cmpl-/), object: "text_completion", model: "grok-3" });
    expect(cut.choices).toEqual([{ text: expect.any(String), index: 0, logprobs: null, finish_reason: "length" }]);
    expect(cut.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 16, total_tokens: 23, cost_in_usd_ticks: mockCostTicks({ input_tokens: 7, output_tokens: 16 }) });
    const whole = await json("/completions", { model: "grok-3", prompt: ["a", "b"], max_tokens: 50, mock: { completion_tokens: 3 } });
    expect(whole.choices[0].finish_reason).toBe("stop");
    expect(whole.usage.completion_tokens).toBe(3);
  });
});

describe("POST /responses and stored responses", () => {
  test("the response object and its usage (output includes reasoning, every tool counter present)", async () => {
    const mock = { prompt_tokens: 40, cached_tokens: 10, completion_tokens: 6, reasoning_tokens: 4 };
    const r = await json("/responses", { model: "grok-4", input: "Hi", instructions: "Be brief", mock });
    expect(r).toMatchObject({ id: expect.stringMatching(/^resp_[0-9a-f]+$/), object: "response", status: "completed", model: "grok-4", store: true, previous_response_id: null, instructions: "Be brief" });
    expect(r.output.map((o: { type: string }) => o.type)).toEqual(["reasoning", "message"]);
    expect(r.output[1]).toMatchObject({ type: "message", id: expect.stringMatching(/^msg_/), status: "completed", role: "assistant", content: [{ type: "output_text", annotations: [] }] });
    expect(r.usage).toEqual({
      input_tokens: 40,
      input_tokens_details: { cached_tokens: 10 },
      output_tokens: 10,
      output_tokens_details: { reasoning_tokens: 4 },
      total_tokens: 50,
      num_sources_used: 0,
      num_server_side_tools_used: 0,
      server_side_tool_usage_details: { web_search_calls: 0, x_search_calls: 0, code_interpreter_calls: 0, file_search_calls: 0, document_search_calls: 0, mcp_calls: 0, image_generation_calls: 0 },
      cost_in_usd_ticks: mockCostTicks({ input_tokens: 40, cached_tokens: 10, output_tokens: 10 }),
    });
    const xai = await json("/responses", { model: "grok-4", input: "Hi", mock: { ...mock, usage: "xai", tools: { web_search: 3 } } });
    expect(xai.usage).toMatchObject({ output_tokens: 6, total_tokens: 50, num_server_side_tools_used: 3 });
    expect(xai.usage.cost_in_usd_ticks).toBe(mockCostTicks({ input_tokens: 40, cached_tokens: 10, output_tokens: 10, tools: { web_search: 3 } }));
  });

  test("GET returns it, input_items lists its input, DELETE forgets it", async () => {
    const input = [
      { role: "system", content: "Be brief" },
      { role: "user", content: [{ type: "input_text", text: "Hi" }] },
    ];
    const r = await json("/responses", { model: "grok-4", input });
    expect(await (await get(`/responses/${r.id}`)).json()).toEqual(r);
    const items = (await (await get(`/responses/${r.id}/input_items`)).json()) as Record<string, any>;
    expect(items).toMatchObject({ object: "list", has_more: false });
    expect(items.data).toMatchObject([
      { type: "message", role: "system", content: [{ type: "input_text", text: "Be brief" }] },
      { type: "message", role: "user", content: [{ type: "input_text", text: "Hi" }] },
    ]);
    expect([items.first_id, items.last_id]).toEqual([items.data[0].id, items.data[1].id]);
    expect(await (await del(`/responses/${r.id}`)).json()).toEqual({ id: r.id, object: "response", deleted: true });
    for (const res of [await get(`/responses/${r.id}`), await get(`/responses/${r.id}/input_items`), await del(`/responses/${r.id}`)]) {
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ code: "Some requested entity was not found", error: `Response with id '${r.id}' not found` });
    }
  });

  test("previous_response_id adds the stored context to the input, as cached tokens; unknown is 404", async () => {
    const first = await json("/responses", { model: "grok-4", input: "One", mock: { prompt_tokens: 50, completion_tokens: 12 } });
    const second = await json("/responses", { model: "grok-4", input: "Two", previous_response_id: first.id, mock: { prompt_tokens: 20, completion_tokens: 5 } });
    expect(second.previous_response_id).toBe(first.id);
    expect(second.usage).toMatchObject({ input_tokens: 20 + 62, input_tokens_details: { cached_tokens: 62 }, output_tokens: 5, total_tokens: 87 });
    expect(second.usage.cost_in_usd_ticks).toBe(mockCostTicks({ input_tokens: 82, cached_tokens: 62, output_tokens: 5 }));
    const third = await json("/responses", { model: "grok-4", input: "Three", previous_response_id: second.id, mock: { prompt_tokens: 1, completion_tokens: 1 } });
    expect(third.usage.input_tokens).toBe(1 + 82 + 5);
    const unknown = await post("/responses", { model: "grok-4", input: "x", previous_response_id: "resp_nope" });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: "Some requested entity was not found" });
  });

  test("store: false is not kept; max_output_tokens cuts the answer (incomplete)", async () => {
    const unstored = await json("/responses", { model: "grok-4", input: "x", store: false });
    expect(unstored.store).toBe(false);
    expect((await get(`/responses/${unstored.id}`)).status).toBe(404);
    const cut = await json("/responses", { model: "grok-4", input: "x", max_output_tokens: 5, mock: { completion_tokens: 20 } });
    expect(cut).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" }, usage: { output_tokens: 5 } });
  });
});

describe("POST /messages (Anthropic)", () => {
  const anthropic = { "x-api-key": "upstream-key", "anthropic-version": "2023-06-01", "anthropic-beta": "tools-2024-04-04", authorization: "" };

  test("the message; input_tokens excludes cache reads and writes; headers recorded", async () => {
    const mock = { prompt_tokens: 100, cached_tokens: 30, cache_creation_tokens: 20, completion_tokens: 7, reasoning_tokens: 3 };
    const res = await post("/messages", { model: "grok-4", max_tokens: 100, system: "Be brief", messages: user, mock }, anthropic);
    const m = (await res.json()) as Record<string, any>;
    expect(m).toEqual({
      id: expect.stringMatching(/^msg_/),
      type: "message",
      role: "assistant",
      model: "grok-4",
      content: [{ type: "text", text: expect.any(String) }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: {
        input_tokens: 50,
        cache_read_input_tokens: 30,
        cache_creation_input_tokens: 20,
        output_tokens: 10,
        cost_in_usd_ticks: mockCostTicks({ input_tokens: 100, cached_tokens: 30, output_tokens: 10 }),
      },
    });
    expect(up.requests.at(-1)!.headers).toMatchObject({ "x-api-key": "upstream-key", "anthropic-version": "2023-06-01", "anthropic-beta": "tools-2024-04-04" });
  });

  test("tool_use: a text block then the tool call; max_tokens cuts with stop_reason max_tokens", async () => {
    const mock = { completion_tokens: 3, tool_use: { name: "get_weather", input: { city: "Paris" } }, tools: { web_search: 1 } };
    const m = await json("/messages", { model: "grok-4", max_tokens: 50, messages: user, mock });
    expect(m.content).toEqual([{ type: "text", text: expect.any(String) }, { type: "tool_use", id: expect.stringMatching(/^toolu_/), name: "get_weather", input: { city: "Paris" } }]);
    expect(m.stop_reason).toBe("tool_use");
    expect(m.usage).toMatchObject({ num_server_side_tools_used: 1, server_side_tool_usage_details: { web_search_calls: 1 } });
    const cut = await json("/messages", { model: "grok-4", max_tokens: 4, messages: user, mock: { completion_tokens: 9 } });
    expect(cut).toMatchObject({ stop_reason: "max_tokens", usage: { output_tokens: 4 } });
  });

  test("errors in Anthropic's envelope: a missing max_tokens, and `status`", async () => {
    const missing = await post("/messages", { model: "grok-4", messages: user });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({ type: "error", error: { type: "invalid_request_error", message: expect.any(String) } });
    const types = { 400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error" };
    for (const [status, type] of Object.entries(types)) {
      const res = await post("/messages", { model: "grok-4", max_tokens: 5, messages: user, mock: { status: Number(status), retry_after: "3" } });
      expect(res.status).toBe(Number(status));
      expect(res.headers.get("retry-after")).toBe("3");
      expect(await res.json()).toEqual({ type: "error", error: { type, message: expect.any(String) } });
    }
    const own = await post("/messages", { model: "grok-4", max_tokens: 5, messages: user, mock: { status: 500, error_body: { boom: 1 } } });
    expect(await own.json()).toEqual({ boom: 1 });
  });

  test("only_key matches x-api-key too", async () => {
    const mock = { status: 401, only_key: "bad-key" };
    expect((await post("/messages", { model: "m", max_tokens: 5, messages: user, mock }, { "x-api-key": "bad-key", authorization: "" })).status).toBe(401);
    expect((await post("/messages", { model: "m", max_tokens: 5, messages: user, mock }, { "x-api-key": "good-key", authorization: "" })).status).toBe(200);
  });
});

describe("images", () => {
  test("generations: n urls, each with its revised prompt, $0.02 each", async () => {
    const r = await json("/images/generations", { model: "grok-imagine-image", prompt: "a cat", n: 3 });
    expect(r.created).toBeNumber();
    expect(r.data).toHaveLength(3);
    for (const img of r.data) expect(img).toMatchObject({ url: expect.stringMatching(/^https:\/\/mock\.invalid\/img\/[0-9a-f]+\.png$/), revised_prompt: expect.stringContaining("a cat") });
    expect(r.usage).toEqual({ cost_in_usd_ticks: 3 * 200_000_000 });
  });

  test("b64_json is a PNG; edits answer alike; images_returned bills fewer; cost_ticks null drops usage", async () => {
    const b64 = await json("/images/edits", { model: "grok-imagine-image", prompt: "add a hat", image: { url: "https://x/cat.png" }, response_format: "b64_json" });
    expect(b64.data).toEqual([{ b64_json: TINY_PNG_BASE64, mime_type: "image/png", revised_prompt: expect.any(String) }]);
    expect([...Buffer.from(b64.data[0].b64_json, "base64").subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(b64.usage.cost_in_usd_ticks).toBe(mockCostTicks({ images: 1 }));
    const fewer = await json("/images/generations", { model: "grok-imagine-image", prompt: "x", n: 4, mock: { images_returned: 1 } });
    expect(fewer.data).toHaveLength(1);
    expect(fewer.usage.cost_in_usd_ticks).toBe(200_000_000);
    const none = await json("/images/generations", { model: "grok-imagine-image", prompt: "x", mock: { cost_ticks: null } });
    expect(none).not.toHaveProperty("usage");
  });
});

describe("tokenizer and model lists", () => {
  test("POST /tokenize-text: a token per word, with its bytes; same text, same id", async () => {
    const r = await json("/tokenize-text", { model: "grok-4", text: "Hello world!" });
    expect(r.token_ids.map((t: { string_token: string }) => t.string_token)).toEqual(["Hello", " world!"]);
    expect(r.token_ids[1].token_bytes).toEqual([...Buffer.from(" world!")]);
    const again = await json("/tokenize-text", { model: "grok-4", text: "Hello" });
    expect(again.token_ids[0].token_id).toBe(r.token_ids[0].token_id);
  });

  test("language and image models with prices in xAI's units; /models from both; setModels replaces", async () => {
    const { models } = (await (await get("/language-models")).json()) as { models: Record<string, any>[] };
    expect(models.find((m) => m.id === "grok-4-0709")).toMatchObject({
      object: "model",
      owned_by: "xai",
      aliases: ["grok-4", "grok-4-latest"],
      prompt_text_token_price: 30_000,
      cached_prompt_text_token_price: 7_500,
      completion_text_token_price: 150_000,
      search_price: 250_000_000,
    });
    const images = (await (await get("/image-generation-models")).json()) as { models: Record<string, any>[] };
    expect(images.models[0]).toMatchObject({ id: "grok-imagine-image", image_price: 2 });
    expect(await (await get("/language-models/grok-4")).json()).toMatchObject({ id: "grok-4-0709" });
    const list = (await (await get("/models")).json()) as Record<string, any>;
    expect(list.object).toBe("list");
    expect(list.data).toContainEqual({ id: "grok-imagine-image", object: "model", created: expect.any(Number), owned_by: "xai" });
    up.setModels({ language: [mockLanguageModel("grok-9", 1, [], { input: 1, cached: 0.5, output: 2 })] });
    expect(((await (await get("/language-models")).json()) as { models: unknown[] }).models).toEqual([expect.objectContaining({ id: "grok-9", prompt_text_token_price: 10_000, completion_text_token_price: 20_000 })]);
    expect(((await (await get("/models")).json()) as { data: { id: string }[] }).data.map((m) => m.id)).toEqual(["grok-9", "grok-imagine-image"]);
  });
});
