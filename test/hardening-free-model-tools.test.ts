/**
 * A model whose tokens are free still charges its server-side tools ($5 per 1,000 web searches
 * by default). A request enabling a paid tool is never admitted on credit that is not there, and
 * when the credit cannot hold the tool allowance it still holds one call: concurrent requests
 * of a small balance are bounded by it, instead of each holding nothing and all running into
 * overage together; that one call is held also when the operator sets `tool_call_allowance: 0`,
 * which only drops the allowance's further calls. OpenAI's dated types of the web search tool (`web_search_2025_08_26`,
 * `web_search_preview_2025_03_11`) are that paid tool too.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { gatewayOverAnswers } from "./support/answering-upstream";

setDefaultTimeout(60_000);

/** A Responses answer with 4 web searches (xAI lists them as items and counts them in the usage). */
const searched = {
  id: "resp_1", object: "response", status: "completed", model: "free", store: false,
  output: Array.from({ length: 4 }, (_, i) => ({ id: `ws_${i}`, type: "web_search_call", status: "completed", action: { type: "search", query: "q" } })),
  usage: { input_tokens: 10, output_tokens: 2, total_tokens: 12, num_server_side_tools_used: 4, server_side_tool_usage_details: { web_search_calls: 4 } },
};
const free = { provider: "fake", input_price: 0, output_price: 0, max_output_tokens: 1000 };
const ctx = gatewayOverAnswers(
  (path) =>
    path.endsWith("/responses")
      ? Response.json(searched)
      : Response.json({
          id: "x", object: "chat.completion", model: "free",
          choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12, server_side_tool_usage_details: { web_search_calls: 2 } },
        }),
  { delayMs: 100, models: [{ id: "free", ...free }, { id: "free-no-allowance", ...free, tool_call_allowance: 0 }] },
);

/** Concurrent requests with web_search (five unless told); their statuses, in order. */
const five = (key: string, model: string, count = 5) =>
  Promise.all(
    Array.from({ length: count }, () =>
      fetch(`${ctx.g.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "q" }], tools: [{ type: "web_search" }] }),
      }).then(async (r) => (await r.text(), r.status)),
    ),
  );

describe("paid tools on a model with free tokens", () => {
  test("no credit: 402 for every request, with or without a tool allowance; nothing reaches the upstream", async () => {
    const c = await ctx.g.customer(0);
    const before = ctx.calls;
    expect(await five(c.key, "free")).toEqual([402, 402, 402, 402, 402]);
    expect(await five(c.key, "free-no-allowance")).toEqual([402, 402, 402, 402, 402]);
    expect(ctx.calls).toBe(before);
    expect(await ctx.g.account(c.accountId)).toMatchObject({ balance_micros: 0, held_micros: 0 });
  });

  test("credit for one and a half calls: one request at a time, charged its two calls", async () => {
    const c = await ctx.g.customer(7_500);
    const statuses = await five(c.key, "free");
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 402)).toHaveLength(4);
    // Its two searches at 5,000 micros each, the second beyond the hold: overage of an admitted request.
    expect(await ctx.g.account(c.accountId)).toMatchObject({ balance_micros: 7_500 - 10_000, held_micros: 0 });
  });

  test("tool_call_allowance 0: still one call held, so credit for one call admits one of 20 concurrent requests", async () => {
    const c = await ctx.g.customer(5_000);
    const before = ctx.calls;
    const statuses = await five(c.key, "free-no-allowance", 20);
    const account = await ctx.g.account(c.accountId);
    // Holding nothing, all 20 would run and their 40 searches take the balance to -195,000 micros.
    expect({ admitted: statuses.filter((s) => s === 200).length, upstreamCalls: ctx.calls - before, balance: account.balance_micros, held: account.held_micros }).toEqual({
      admitted: 1,
      upstreamCalls: 1,
      balance: 5_000 - 10_000,
      held: 0,
    });
  });
});

describe("dated tool types (Responses)", () => {
  const responses = (key: string, type: string) =>
    fetch(`${ctx.g.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "free", input: "q", tools: [{ type }] }),
    }).then(async (r) => (await r.text(), r.status));

  test("web_search_2025_08_26 and web_search_preview_2025_03_11 with no credit: 402, nothing reaches the upstream", async () => {
    const c = await ctx.g.customer(0);
    const before = ctx.calls;
    const statuses: Record<string, number> = {};
    for (const type of ["web_search", "web_search_2025_08_26", "web_search_preview_2025_03_11"]) statuses[type] = await responses(c.key, type);
    // Admitted with nothing held, their 4 searches would take the balance to -20,000 micros each.
    const account = await ctx.g.account(c.accountId);
    expect({ statuses, upstreamCalls: ctx.calls - before, balance: account.balance_micros }).toEqual({
      statuses: { web_search: 402, web_search_2025_08_26: 402, web_search_preview_2025_03_11: 402 },
      upstreamCalls: 0,
      balance: 0,
    });
  });
});
