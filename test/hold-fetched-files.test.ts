/**
 * A file named by URL (Responses' `input_file` with `file_url`, Anthropic's `document` with a `url`
 * source, a chat `file` part whose data is a URL) is content the upstream fetches and bills as
 * prompt, of a size the gateway cannot know: the hold counts it as the model's context_window,
 * as it does a stored item of unknown size. Ten concurrent requests for a 120,000-token PDF on a
 * balance that pays for two admit two, and the balance stays above zero; a file sent inline
 * (`file_data` as base64) is still held at its bytes. A screenshot by URL sent back to a computer
 * tool is an image part, held at an image's fixed size, not at its URL's bytes.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { gatewayOverAnswers } from "./support/answering-upstream";

setDefaultTimeout(60_000);

/** What the upstream bills for the 100-page PDF it fetched: 120,000 prompt tokens (within the 131,072 context). */
const PDF_TOKENS = 120_000;

/** The upstream's answer on each API: a short summary of the fetched PDF. */
function answer(path: string): Response {
  if (path.endsWith("/messages")) {
    return Response.json({
      id: "msg_1", type: "message", role: "assistant", model: "grok-4", stop_reason: "end_turn", stop_sequence: null,
      content: [{ type: "text", text: "summary" }],
      usage: { input_tokens: PDF_TOKENS, output_tokens: 10 },
    });
  }
  if (path.endsWith("/chat/completions")) {
    return Response.json({
      id: "c1", object: "chat.completion", created: 1, model: "grok-4",
      choices: [{ index: 0, message: { role: "assistant", content: "summary" }, finish_reason: "stop" }],
      usage: { prompt_tokens: PDF_TOKENS, completion_tokens: 10, total_tokens: PDF_TOKENS + 10 },
    });
  }
  return Response.json({
    id: "resp_1", object: "response", created_at: 1, status: "completed", model: "grok-4", store: false,
    output: [{ id: "m1", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "summary", annotations: [] }] }],
    usage: { input_tokens: PDF_TOKENS, output_tokens: 10, total_tokens: PDF_TOKENS + 10 },
  });
}

const ctx = gatewayOverAnswers(answer, {
  // Long enough for the ten requests to be in flight together.
  delayMs: 300,
  models: [{ id: "grok-4", provider: "fake", input_price: 3, cached_input_price: 0.75, output_price: 15, max_output_tokens: 1000 }],
});

const PRICE = PDF_TOKENS * 3 + 10 * 15; // 360,150 micros a request
const HOLD = 131_072 * 3 + 16 * 15; // the context window's prompt and max 16 output tokens: 393,456
const BALANCE = 1_000_000; // holds two such requests at a time, never a third
const PDF = "https://example.com/annual-report.pdf";
const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${ctx.g.url}/v1`, maxRetries: 0 });
const anthropic = (key: string) => new Anthropic({ apiKey: key, baseURL: ctx.g.url, maxRetries: 0 });

/** Ten concurrent calls on a fresh account of BALANCE: how many were answered, and the balance after. */
async function tenConcurrent(call: (key: string) => Promise<unknown>) {
  const c = await ctx.g.customer(BALANCE);
  const outcomes = await Promise.all(Array.from({ length: 10 }, () => call(c.key).then(() => 200, (e: { status?: number }) => e.status)));
  const account = await ctx.g.account(c.accountId);
  return { admitted: outcomes.filter((s) => s === 200).length, refused: outcomes.filter((s) => s === 402).length, balance: account.balance_micros };
}

// Whatever the timing, a third is never admitted: after one settles, 639,850 − 393,456 is less than a hold.
const TWO_ADMITTED = { admitted: 2, refused: 8, balance: BALANCE - 2 * PRICE };

describe("a file the upstream fetches by URL is held at the model's context window", () => {
  test("Responses: input_file by file_url (OpenAI SDK)", async () => {
    expect(HOLD * 2).toBeLessThanOrEqual(BALANCE);
    const r = await tenConcurrent((key) =>
      openai(key).responses.create({
        model: "grok-4",
        max_output_tokens: 16,
        input: [{ role: "user", content: [{ type: "input_file", file_url: PDF }, { type: "input_text", text: "Summarise." }] }],
      }),
    );
    // Held at the URL's bytes, all ten were admitted: balance −2,601,500.
    expect(r).toEqual(TWO_ADMITTED);
  });

  test("Messages: document with a url source (Anthropic SDK)", async () => {
    const r = await tenConcurrent((key) =>
      anthropic(key).messages.create({
        model: "grok-4",
        max_tokens: 16,
        messages: [{ role: "user", content: [{ type: "document", source: { type: "url", url: PDF } }, { type: "text", text: "Summarise." }] }],
      }),
    );
    expect(r).toEqual(TWO_ADMITTED);
  });

  test("Chat: a file part whose file_data is a URL", async () => {
    const r = await tenConcurrent((key) =>
      openai(key).chat.completions.create({
        model: "grok-4",
        max_tokens: 16,
        messages: [{ role: "user", content: [{ type: "file", file: { file_data: PDF, filename: "annual-report.pdf" } }, { type: "text", text: "Summarise." }] }],
      }),
    );
    expect(r).toEqual(TWO_ADMITTED);
  });

  test("a file sent inline (file_data as base64) is held at its bytes: admitted on less than the context's price", async () => {
    const c = await ctx.g.customer(HOLD - 1);
    const file = { type: "file" as const, file: { file_data: `data:application/pdf;base64,${btoa("%PDF-1.4 tiny")}`, filename: "tiny.pdf" } };
    const res = await fetch(`${ctx.g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "grok-4", max_tokens: 16, messages: [{ role: "user", content: [file] }] }),
    });
    await res.text();
    expect(res.status).toBe(200);
  });
});

test("Responses: computer_call_output screenshots by URL are held as images (3,000 tokens each), not as their URL's bytes", async () => {
  // 40 screenshots held as images need 40 × 3,000 × 3 = 360,000 micros of credit, more than the 100,000 given.
  const c = await ctx.g.customer(100_000);
  const shot = (i: number) => ({ type: "computer_call_output", call_id: `call_${i}`, output: { type: "computer_screenshot", image_url: `https://example.com/s/${i}.png` } });
  const res = await fetch(`${ctx.g.url}/v1/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "grok-4", max_output_tokens: 16, input: Array.from({ length: 40 }, (_, i) => shot(i)) }),
  });
  const body = (await res.json()) as { error?: { code?: string } };
  // Held at their URLs' bytes (about 4,000 tokens in all), they were admitted: 200.
  expect({ status: res.status, code: body.error?.code }).toEqual({ status: 402, code: "insufficient_quota" });
  expect(await ctx.g.account(c.accountId)).toMatchObject({ balance_micros: 100_000, held_micros: 0 });
});
