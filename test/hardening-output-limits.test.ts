/**
 * The output limit the hold covers is the one every upstream gets. A body may set several limit
 * fields (chat's max_completion_tokens and max_tokens, a chat field on Responses or Messages,
 * llama.cpp's n_predict), and which one an upstream obeys is its own choice: the hold is for the
 * smallest, and that same value goes upstream in every field the client set, so no upstream can
 * generate past the hold and the client never gets more than any field asked for. A legacy
 * completion without max_tokens is held for OpenAI's default of 16 and sent with it: an upstream's
 * own default (llama.cpp: unlimited; xAI: the model's maximum) would run far past that hold.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { scriptedGateway, waitRow } from "./support/scripted-upstream";

setDefaultTimeout(30_000);
const s = scriptedGateway("openai");

const chatAnswer = (completion: number) =>
  JSON.stringify({ id: "c1", object: "chat.completion", created: 1, model: "m", choices: [{ index: 0, message: { role: "assistant", content: "x" }, finish_reason: "length" }], usage: { prompt_tokens: 10, completion_tokens: completion, total_tokens: 10 + completion } });
const responseAnswer = JSON.stringify({
  id: "resp_1", object: "response", status: "completed", model: "m", store: false,
  output: [{ id: "msg_1", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "x" }] }],
  usage: { input_tokens: 10, output_tokens: 16, total_tokens: 26 },
});
const messageAnswer = JSON.stringify({ id: "msg_1", type: "message", role: "assistant", model: "m", content: [{ type: "text", text: "x" }], stop_reason: "max_tokens", stop_sequence: null, usage: { input_tokens: 10, output_tokens: 16 } });

/** The limit fields of the last body the upstream received. */
const sentLimits = () => {
  const b = s.up.bodies.at(-1) as Record<string, unknown>;
  return { max_tokens: b.max_tokens, max_completion_tokens: b.max_completion_tokens, max_output_tokens: b.max_output_tokens, n_predict: b.n_predict };
};
const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${s.gw.url}/v1`, maxRetries: 0 });

// grok-4: 3 µ/input token, 15 µ/output; 0.002 USD holds 16 output tokens, not 100,000 (1.5 USD).
test("chat with both limits holds the smaller and sends it in both fields, whichever field is smaller", async () => {
  for (const [mct, mt] of [[16, 100_000], [100_000, 16]] as const) {
    const c = await s.gw.customer(2_000);
    s.up.script = [chatAnswer(16)];
    const { data, response } = await openai(c.key)
      .chat.completions.create({ model: "grok-4", max_completion_tokens: mct, max_tokens: mt, messages: [{ role: "user", content: "hi" }] })
      .withResponse();
    expect(data.usage?.completion_tokens).toBe(16);
    expect(sentLimits()).toEqual({ max_tokens: 16, max_completion_tokens: 16, max_output_tokens: undefined, n_predict: undefined });
    expect((await waitRow(s.gw, response.headers.get("x-request-id")!))?.cost_micros).toBe(10 * 3 + 16 * 15);
  }
});

test("a limit the credit cannot hold is named in the 402 by the field that set the smaller limit", async () => {
  const c = await s.gw.customer(2_000);
  const err = await openai(c.key)
    .chat.completions.create({ model: "grok-4", max_completion_tokens: 100_000, max_tokens: 50_000, messages: [{ role: "user", content: "hi" }] })
    .catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
  expect(err).toBeInstanceOf(OpenAI.APIError);
  expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
  expect((err as InstanceType<typeof OpenAI.APIError>).param).toBe("max_tokens");
});

test("llama.cpp's n_predict (which wins over max_tokens there) is sent as the limit held, -1 (unlimited) included", async () => {
  for (const n_predict of [100_000, -1]) {
    const c = await s.gw.customer(2_000);
    s.up.script = [chatAnswer(16)];
    await openai(c.key).chat.completions.create({ model: "grok-4", max_tokens: 16, n_predict, messages: [{ role: "user", content: "hi" }] } as never);
    expect(sentLimits()).toEqual({ max_tokens: 16, max_completion_tokens: undefined, max_output_tokens: undefined, n_predict: 16 });
  }
  // Alone it is the limit held, and the API's own field carries it to an upstream that ignores n_predict.
  const c = await s.gw.customer(2_000);
  await openai(c.key).chat.completions.create({ model: "grok-4", n_predict: 16, messages: [{ role: "user", content: "hi" }] } as never);
  expect(sentLimits()).toEqual({ max_tokens: 16, max_completion_tokens: undefined, max_output_tokens: undefined, n_predict: 16 });
});

test("Responses with a chat limit beside max_output_tokens holds and sends the smaller in both", async () => {
  const c = await s.gw.customer(2_000);
  s.up.script = [responseAnswer];
  const r = await openai(c.key).responses.create({ model: "grok-4", input: "hi", max_output_tokens: 16, max_tokens: 100_000 } as never);
  expect(r.usage?.output_tokens).toBe(16);
  expect(sentLimits()).toEqual({ max_tokens: 16, max_completion_tokens: undefined, max_output_tokens: 16, n_predict: undefined });
  // And the other way round: the chat field is the smaller, so the Responses field gets it too.
  s.up.script = [responseAnswer];
  await openai(c.key).responses.create({ model: "grok-4", input: "hi", max_output_tokens: 100_000, max_completion_tokens: 16 } as never);
  expect(sentLimits()).toEqual({ max_tokens: undefined, max_completion_tokens: 16, max_output_tokens: 16, n_predict: undefined });
});

test("Messages with a chat limit beside max_tokens holds and sends the smaller in both", async () => {
  const c = await s.gw.customer(2_000);
  s.up.script = [messageAnswer];
  const client = new Anthropic({ apiKey: c.key, baseURL: s.gw.url, maxRetries: 0 });
  const m = await client.messages.create({ model: "grok-4", max_tokens: 16, max_completion_tokens: 100_000, messages: [{ role: "user", content: "hi" }] } as never);
  expect((m as { usage: { output_tokens: number } }).usage.output_tokens).toBe(16);
  expect(sentLimits()).toEqual({ max_tokens: 16, max_completion_tokens: 16, max_output_tokens: undefined, n_predict: undefined });
});

test("a limit field sent as null sets no limit and stays null (reasoning models refuse a numeric max_tokens)", async () => {
  const c = await s.gw.customer(10_000_000);
  s.up.script = [chatAnswer(5)];
  const res = await fetch(`${s.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "hi" }], max_completion_tokens: 500, max_tokens: null }),
  });
  expect(res.status).toBe(200);
  expect(sentLimits()).toEqual({ max_tokens: null, max_completion_tokens: 500, max_output_tokens: undefined, n_predict: undefined });
});

test("a single limit field goes upstream as the client sent it, and none is added", async () => {
  const c = await s.gw.customer(10_000_000);
  s.up.script = [chatAnswer(5)];
  await openai(c.key).chat.completions.create({ model: "grok-4", max_completion_tokens: 300, messages: [{ role: "user", content: "hi" }] });
  expect(sentLimits()).toEqual({ max_tokens: undefined, max_completion_tokens: 300, max_output_tokens: undefined, n_predict: undefined });
  await openai(c.key).chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "hi" }] });
  expect(sentLimits()).toEqual({ max_tokens: undefined, max_completion_tokens: undefined, max_output_tokens: undefined, n_predict: undefined });
});

test("legacy completions without max_tokens send the 16 tokens the hold assumed", async () => {
  const c = await s.gw.customer(2_000);
  // An upstream that ignored the missing limit would write 4,000 tokens (60,030 µ on 2,000 of credit).
  s.up.script = [JSON.stringify({ id: "cmpl1", object: "text_completion", created: 1, model: "m", choices: [{ index: 0, text: "x", finish_reason: "length" }], usage: { prompt_tokens: 10, completion_tokens: 16, total_tokens: 26 } })];
  const { data, response } = await openai(c.key).completions.create({ model: "grok-4", prompt: "Write a long story" }).withResponse();
  expect(data.usage?.completion_tokens).toBe(16);
  expect(sentLimits()).toEqual({ max_tokens: 16, max_completion_tokens: undefined, max_output_tokens: undefined, n_predict: undefined });
  expect((await waitRow(s.gw, response.headers.get("x-request-id")!))?.cost_micros).toBe(10 * 3 + 16 * 15);
  // A limit the client set is sent as it is.
  await openai(c.key).completions.create({ model: "grok-4", prompt: "Write a long story", max_tokens: 40 });
  expect(sentLimits().max_tokens).toBe(40);
});
