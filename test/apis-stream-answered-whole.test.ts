/**
 * A stream the upstream answers whole: the client asks for a stream, an OpenAI-compatible
 * upstream ignores `stream` and answers 200 with one JSON body. The gateway charges that answer
 * and must then deliver it as the stream the client asked for, in its API's events (chat, legacy
 * completions, Responses, Messages), or the SDK gets nothing for what it paid. Proved with the
 * official SDKs' stream helpers (finalChatCompletion, finalResponse, finalMessage): the content
 * and the usage arrive, the charge is exactly the usage's and is in the books when the stream has
 * ended; an answer the gateway cannot read is still a 502 charged nothing.
 */
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { fakeCatalogue, SINGLE_SHOT } from "./support/fake-upstream";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(20_000);
const CREDITS = 10_000_000;
/** 10 prompt tokens at 3 micros (grok-4) + 5 output tokens at 15. */
const CHARGE = 10 * 3 + 5 * 15;

const TOOL_CALL = { id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":"x"}' } };

/**
 * Whole answers of each API, whatever the request's `stream` says; `unreadable` answers an error
 * envelope with a 200, `no_usage` leaves the usage out, `idless` the output items' ids.
 */
function wholeAnswer(path: string, body: Record<string, unknown>): unknown {
  if (body.unreadable) return { error: { message: "oops" } };
  const answer = answerOf(path) as { usage?: unknown; output?: { id?: string }[] };
  if (body.no_usage) delete answer.usage;
  if (body.idless) for (const item of answer.output ?? []) delete item.id;
  return answer;
}

function answerOf(path: string): unknown {
  if (path.endsWith("/chat/completions")) {
    return {
      id: "chatcmpl-1", object: "chat.completion", created: 1, model: "m",
      choices: [
        { index: 0, message: { role: "assistant", content: "hello there" }, logprobs: null, finish_reason: "stop" },
        { index: 1, message: { role: "assistant", content: null, tool_calls: [TOOL_CALL] }, logprobs: null, finish_reason: "tool_calls" },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    };
  }
  if (path.endsWith("/completions")) {
    return { id: "cmpl-1", object: "text_completion", created: 1, model: "m", choices: [{ index: 0, text: "hello there", logprobs: null, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } };
  }
  if (path.endsWith("/responses")) {
    return {
      id: "resp_1", object: "response", created_at: 1, status: "completed", model: "m", error: null, incomplete_details: null,
      output: [
        { type: "reasoning", id: "rs_1", summary: [], status: "completed" },
        { type: "message", id: "msg_1", status: "completed", role: "assistant", content: [{ type: "output_text", text: "hello there", annotations: [] }] },
        { type: "function_call", id: "fc_1", call_id: "call_1", name: "lookup", arguments: '{"q":"x"}', status: "completed" },
      ],
      usage: { input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: 5, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 15 },
    };
  }
  return {
    id: "msg_1", type: "message", role: "assistant", model: "m", stop_reason: "tool_use", stop_sequence: null,
    content: [{ type: "text", text: "hello there" }, { type: "tool_use", id: "toolu_1", name: "lookup", input: { q: "x" } }],
    usage: { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
}

let g: Gateway;
let up: ReturnType<typeof Bun.serve>;
const askedStream: unknown[] = [];
beforeAll(async () => {
  up = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (req) => {
      const body = (await req.json()) as Record<string, unknown>;
      askedStream.push(body.stream);
      return Response.json(wholeAnswer(new URL(req.url).pathname, body));
    },
  });
  g = await startGateway({ config: { ...fakeCatalogue(`http://127.0.0.1:${up.port}/v1`, "openai"), ...SINGLE_SHOT } });
});
afterAll(async () => {
  await g.stop();
  up.stop(true);
});

const openai = (c: Customer) => new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 });
const charged = async (c: Customer) => CREDITS - (await g.balance(c.accountId));

test("chat.completions.stream() answered whole: every choice, its tool calls and the usage chunk reach the SDK, charged once", async () => {
  const c = await g.customer(CREDITS);
  const s = openai(c).chat.completions.stream({ model: "grok-4", messages: [{ role: "user", content: "hi" }], stream_options: { include_usage: true } });
  const chunks: unknown[] = [];
  s.on("chunk", (chunk) => chunks.push(chunk));
  const final = await s.finalChatCompletion();
  // Charged before the stream ended: no wait here.
  expect(await charged(c)).toBe(CHARGE);
  expect(askedStream.at(-1)).toBe(true);
  expect(final.choices.map((ch) => [ch.message.role, ch.message.content, ch.finish_reason])).toEqual([
    ["assistant", "hello there", "stop"],
    ["assistant", null, "tool_calls"],
  ]);
  expect(final.choices[1]!.message.tool_calls).toEqual([TOOL_CALL] as never);
  expect(final.usage).toMatchObject({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
  expect(chunks.length).toBe(5);
});

test("a chat stream answered whole without include_usage: no usage chunk, as OpenAI would send", async () => {
  const c = await g.customer(CREDITS);
  const res = await fetch(`${g.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "hi" }], stream: true }),
  });
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const events = (await res.text()).split("\n\n").filter(Boolean);
  expect(events.at(-1)).toBe("data: [DONE]");
  expect(events.some((e) => e.includes('"usage"'))).toBe(false);
  expect(await charged(c)).toBe(CHARGE);
});

test("a legacy completions stream answered whole: its text, finish_reason and usage chunk, charged once", async () => {
  const c = await g.customer(CREDITS);
  const stream = await openai(c).completions.create({ model: "grok-4", prompt: "hi", stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  expect(await charged(c)).toBe(CHARGE);
  expect(chunks.map((ch) => [ch.choices[0]?.text, ch.choices[0]?.finish_reason, ch.usage?.total_tokens])).toEqual([
    ["hello there", "stop", undefined],
    [undefined, undefined, 15],
  ]);
});

test("responses.stream() answered whole: the items' events, output_text and usage in finalResponse(), charged once", async () => {
  const c = await g.customer(CREDITS);
  const s = openai(c).responses.stream({ model: "grok-4", input: "hi" });
  const types: string[] = [];
  s.on("event", (e) => types.push(e.type));
  const final = await s.finalResponse();
  expect(await charged(c)).toBe(CHARGE);
  expect(final.output_text).toBe("hello there");
  expect(final.output.map((o) => o.type)).toEqual(["reasoning", "message", "function_call"]);
  expect(final.usage).toMatchObject({ input_tokens: 10, output_tokens: 5, total_tokens: 15 });
  expect(types[0]).toBe("response.created");
  expect(types).toContain("response.output_text.delta");
  expect(types).toContain("response.function_call_arguments.done");
  expect(types.at(-1)).toBe("response.completed");
});

test("messages.stream() answered whole: text and tool_use blocks, stop reason and usage in finalMessage(), charged once", async () => {
  const c = await g.customer(CREDITS);
  const anthropic = new Anthropic({ apiKey: c.key, baseURL: g.url, maxRetries: 0 });
  const final = await anthropic.messages.stream({ model: "grok-4", max_tokens: 100, messages: [{ role: "user", content: "hi" }] }).finalMessage();
  expect(await charged(c)).toBe(CHARGE);
  expect(final.content).toEqual([
    { type: "text", text: "hello there" },
    { type: "tool_use", id: "toolu_1", name: "lookup", input: { q: "x" } },
  ] as never);
  expect(final.stop_reason).toBe("tool_use");
  expect(final.usage).toMatchObject({ input_tokens: 10, output_tokens: 5 });
});

test("a stream answered with an unreadable whole body: a 502 the SDK raises, nothing charged", async () => {
  const c = await g.customer(CREDITS);
  const s = openai(c).chat.completions.stream({ model: "grok-4", messages: [{ role: "user", content: "hi" }], unreadable: true } as never);
  const err = await s.finalChatCompletion().then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(OpenAI.APIError);
  expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
  expect(await charged(c)).toBe(0);
});

test("messages.stream() answered whole without usage: the SDK gets the message (the usage it reads is there, zero)", async () => {
  const c = await g.customer(CREDITS);
  const anthropic = new Anthropic({ apiKey: c.key, baseURL: g.url, maxRetries: 0 });
  const m = await anthropic.messages.stream({ model: "grok-4", max_tokens: 100, messages: [{ role: "user", content: "hi" }], no_usage: true } as never).finalMessage();
  expect((m.content[0] as { text: string }).text).toBe("hello there");
  expect(await charged(c)).toBeGreaterThan(0);
});

test("responses.stream() answered whole with items that have no id: each gets one, and the SDK reads the text", async () => {
  const c = await g.customer(CREDITS);
  const s = openai(c).responses.stream({ model: "grok-4", input: "hi", idless: true } as never);
  let deltas = "";
  s.on("response.output_text.delta", (e) => (deltas += e.delta));
  const final = await s.finalResponse();
  expect([final.output_text, deltas]).toEqual(["hello there", "hello there"]);
  // A function call is named by its call_id; every other item now has an id.
  expect(final.output.filter((i) => i.type !== "function_call" && typeof (i as { id?: string }).id !== "string")).toEqual([]);
  expect(await charged(c)).toBe(CHARGE);
});
