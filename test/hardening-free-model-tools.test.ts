/**
 * A model whose tokens are free still charges its server-side tools ($5 per 1,000 web searches
 * by default). A request enabling a paid tool is never admitted on credit that is not there, and
 * when the credit cannot hold the tool allowance it still holds one call: concurrent requests
 * of a small balance are bounded by it, instead of each holding nothing and all running into
 * overage together.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);

let up: ReturnType<typeof Bun.serve>;
let calls = 0;
let g: Gateway;
beforeAll(async () => {
  up = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      await req.arrayBuffer();
      calls++;
      await Bun.sleep(100);
      return Response.json({
        id: "x", object: "chat.completion", model: "free",
        choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12, server_side_tool_usage_details: { web_search_calls: 2 } },
      });
    },
  });
  const free = { provider: "fake", input_price: 0, output_price: 0, max_output_tokens: 1000 };
  g = await startGateway({
    config: {
      providers: [{ id: "fake", base_url: `http://127.0.0.1:${up.port}/v1`, kind: "xai", api_key: "k" }],
      models: [{ id: "free", ...free }, { id: "free-no-allowance", ...free, tool_call_allowance: 0 }],
      retry: { max_attempts: 1 },
    },
  });
});
afterAll(async () => {
  await g?.stop();
  up?.stop(true);
});

/** Five concurrent requests with web_search; their statuses, in order. */
const five = (key: string, model: string) =>
  Promise.all(
    Array.from({ length: 5 }, () =>
      fetch(`${g.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ model, messages: [{ role: "user", content: "q" }], tools: [{ type: "web_search" }] }),
      }).then(async (r) => (await r.text(), r.status)),
    ),
  );

describe("paid tools on a model with free tokens", () => {
  test("no credit: 402 for every request, with or without a tool allowance; nothing reaches the upstream", async () => {
    const c = await g.customer(0);
    const before = calls;
    expect(await five(c.key, "free")).toEqual([402, 402, 402, 402, 402]);
    expect(await five(c.key, "free-no-allowance")).toEqual([402, 402, 402, 402, 402]);
    expect(calls).toBe(before);
    expect(await g.account(c.accountId)).toMatchObject({ balance_micros: 0, held_micros: 0 });
  });

  test("credit for one and a half calls: one request at a time, charged its two calls", async () => {
    const c = await g.customer(7_500);
    const statuses = await five(c.key, "free");
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 402)).toHaveLength(4);
    // Its two searches at 5,000 micros each, the second beyond the hold: overage of an admitted request.
    expect(await g.account(c.accountId)).toMatchObject({ balance_micros: 7_500 - 10_000, held_micros: 0 });
  });
});
