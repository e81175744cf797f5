import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chat, readSse, until, user } from "./support/chat";
import { startGateway, type Gateway } from "./support/gateway";

/** grok-4 test prices: $3 input, $0.75 cached, $15 output per 1M tokens = micros per token. */
const cost = (prompt: number, cached: number, output: number) => (prompt - cached) * 3 + Math.ceil(cached * 0.75) + output * 15;

let g: Gateway;
const ledger = async (accountId: string) =>
  ((await (await g.admin(`/admin/accounts/${accountId}/ledger?limit=500`)).json()) as { data: { kind: string; amount_micros: number; request_id: string | null }[] }).data;
const charges = async (accountId: string) => (await ledger(accountId)).filter((e) => e.kind === "charge");

beforeAll(async () => {
  g = await startGateway({ upstream: true });
});
afterAll(() => g.stop());

describe("non-streaming", () => {
  test("forwards the request with the upstream model and key, returns the completion and charges usage × price", async () => {
    const c = await g.customer(10_000_000);
    const res = await chat(g.url, c.key, {
      model: "grok-4",
      messages: user(),
      max_tokens: 100,
      temperature: 0.3,
      seed: 7,
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
      vendor_field: { keep: true },
      mock: { prompt_tokens: 40, completion_tokens: 10 },
    }, { headers: { cookie: "session=abc", "x-forwarded-for": "1.2.3.4" } });
    expect(res.status).toBe(200);
    const requestId = res.headers.get("x-request-id")!;
    expect(requestId).toMatch(/^req_/);
    const body = (await res.json()) as { object: string; usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } };
    expect(body.object).toBe("chat.completion");
    expect(body.usage).toMatchObject({ prompt_tokens: 40, completion_tokens: 10, total_tokens: 50 });

    const sent = g.upstream.requests.at(-1)!;
    expect(sent.body.model).toBe("grok-4-0709");
    expect(sent.body.temperature).toBe(0.3);
    expect(sent.body.seed).toBe(7);
    expect(sent.body.vendor_field).toEqual({ keep: true });
    expect(sent.body.tools).toHaveLength(1);
    expect(sent.headers.authorization).toBe("Bearer upstream-secret-key-123");
    expect(JSON.stringify(sent.headers)).not.toContain(c.key);
    expect(sent.headers.cookie).toBeUndefined();
    expect(sent.headers["x-forwarded-for"]).toBeUndefined();

    const ch = await charges(c.accountId);
    expect(ch).toHaveLength(1);
    expect(ch[0]!.amount_micros).toBe(-cost(40, 0, 10));
    expect(ch[0]!.request_id).toBe(requestId);
    const a = await g.account(c.accountId);
    expect(a.balance_micros).toBe(10_000_000 - cost(40, 0, 10));
    expect(a.held_micros).toBe(0);
  });

  test("fields that could redirect the upstream are stripped; the upstream stays the configured one", async () => {
    const c = await g.customer();
    const res = await chat(g.url, c.key, {
      model: "grok-4",
      messages: user(),
      api_base: "http://169.254.169.254/latest",
      base_url: "http://evil.example",
      api_key: "sk-attacker",
      extra_headers: { authorization: "Bearer x" },
    });
    expect(res.status).toBe(200);
    const sent = g.upstream.requests.at(-1)!;
    for (const f of ["api_base", "base_url", "api_key", "extra_headers"]) expect(sent.body[f]).toBeUndefined();
    expect(sent.headers.authorization).toBe("Bearer upstream-secret-key-123");
  });

  test("xAI usage: reasoning tokens are billed as output and usage is normalised to OpenAI accounting", async () => {
    const c = await g.customer();
    const res = await chat(g.url, c.key, {
      model: "grok-4",
      messages: user(),
      mock: { usage: "xai", prompt_tokens: 100, cached_tokens: 60, completion_tokens: 20, reasoning_tokens: 30 },
    });
    const body = (await res.json()) as { usage: Record<string, any> };
    // xAI reported completion 20 (excluding reasoning), total 150.
    expect(body.usage.prompt_tokens).toBe(100);
    expect(body.usage.completion_tokens).toBe(50);
    expect(body.usage.total_tokens).toBe(150);
    expect(body.usage.completion_tokens_details.reasoning_tokens).toBe(30);
    expect(body.usage.prompt_tokens_details.cached_tokens).toBe(60);
    const ch = await charges(c.accountId);
    expect(ch[0]!.amount_micros).toBe(-cost(100, 60, 50));
  });

  test("no usage from the upstream: charged as an estimate and marked estimated", async () => {
    const c = await g.customer();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), mock: { usage: "none" } });
    expect(res.status).toBe(200);
    const usage = (await (await fetch(`${g.url}/v1/usage`, { headers: { authorization: `Bearer ${c.key}` } })).json()) as { data: { estimated: boolean; cost_micros: number; completion_tokens: number }[] };
    expect(usage.data[0]!.estimated).toBe(true);
    expect(usage.data[0]!.completion_tokens).toBeGreaterThan(0);
    const ch = await charges(c.accountId);
    expect(ch[0]!.amount_micros).toBe(-usage.data[0]!.cost_micros);
  });

  test("n > 1: every choice is reserved and billed", async () => {
    const c = await g.customer();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), n: 3, max_tokens: 10, mock: { prompt_tokens: 5, completion_tokens: 30 } });
    const body = (await res.json()) as { choices: unknown[] };
    expect(body.choices).toHaveLength(3);
    expect((await charges(c.accountId))[0]!.amount_micros).toBe(-cost(5, 0, 30));
  });
});

describe("refusals before the upstream", () => {
  test("unknown model and a model outside the key's allow-list are 404 model_not_found", async () => {
    const c = await g.customer(10_000_000, { models: ["grok-3"] });
    for (const model of ["gpt-nope", "grok-4"]) {
      const res = await chat(g.url, c.key, { model, messages: user() });
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: { code: string; type: string; param: string } };
      expect(body.error).toMatchObject({ code: "model_not_found", type: "invalid_request_error", param: "model" });
    }
    expect((await chat(g.url, c.key, { model: "grok-3", messages: user() })).status).toBe(200);
  });

  test("missing messages → 400 with param; nothing is charged or held", async () => {
    const c = await g.customer();
    const before = g.upstream.requests.length;
    const res = await chat(g.url, c.key, { model: "grok-4" });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { param: string; type: string } };
    expect(body.error.param).toBe("messages");
    expect(g.upstream.requests.length).toBe(before);
    expect(await g.account(c.accountId)).toMatchObject({ balance_micros: 10_000_000, held_micros: 0 });
  });

  test("explicit max_tokens the balance cannot cover → 402 insufficient_quota with x-should-retry: false", async () => {
    const c = await g.customer(1_000); // 0.001 USD
    const before = g.upstream.requests.length;
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), max_tokens: 1000 });
    expect(res.status).toBe(402);
    expect(res.headers.get("x-should-retry")).toBe("false");
    const body = (await res.json()) as { error: { type: string; code: string; message: string } };
    expect(body.error).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota" });
    expect(body.error.message.toLowerCase()).not.toMatch(/rate limit|429/);
    expect(g.upstream.requests.length).toBe(before);
    expect((await g.account(c.accountId)).balance_micros).toBe(1_000);
  });

  test("without max_tokens a small balance caps the upstream max_tokens to what it covers", async () => {
    const c = await g.customer(3_000); // covers ~190 output tokens at $15/M after the prompt bound
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user("hi"), mock: { prompt_tokens: 5, completion_tokens: 50 } });
    expect(res.status).toBe(200);
    const sent = g.upstream.requests.at(-1)!;
    const cap = sent.body.max_tokens as number;
    expect(cap).toBeGreaterThanOrEqual(16);
    expect(cap).toBeLessThan(1000); // the model's max output in the test catalogue
    expect(cap * 15).toBeLessThanOrEqual(3_000);
    expect((await g.account(c.accountId)).balance_micros).toBe(3_000 - cost(5, 0, 50));
  });

  test("a balance too small for even a capped answer → 402", async () => {
    const c = await g.customer(100);
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user() });
    expect(res.status).toBe(402);
  });

  test("a key's spend cap is enforced as 402", async () => {
    const c = await g.customer(10_000_000, { spend_cap_micros: 500 });
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), max_tokens: 100 });
    expect(res.status).toBe(402);
  });
});

describe("upstream errors before any byte: released, nothing charged, OpenAI envelope", () => {
  const cases: [string, Record<string, unknown>, number, string | null][] = [
    ["xAI bad upstream key (400 with xAI body)", { status: 400, error_body: { code: "Client specified an invalid argument", error: "Incorrect API key provided: xa***yz. You can obtain an API key from https://console.x.ai." } }, 502, "upstream_auth_error"],
    ["upstream 401", { status: 401, error_body: { error: { message: "bad key" } } }, 502, "upstream_auth_error"],
    ["xAI out of upstream credits (403)", { status: 403, error_body: { code: "The caller does not have permission", error: "Your team has run out of credits." } }, 503, "upstream_unavailable"],
    ["upstream 429", { status: 429, retry_after: "7", error_body: { error: { message: "slow down" } } }, 503, "upstream_overloaded"],
    ["upstream 529 (Anthropic's overloaded)", { status: 529, retry_after: "7", error_body: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } }, 503, "upstream_overloaded"],
    ["context too long", { status: 400, error_body: { code: "Client specified an invalid argument", error: "This model's maximum prompt length is 131072 but the request contains 200000 tokens." } }, 400, "context_length_exceeded"],
    ["upstream 500", { status: 500 }, 502, "upstream_error"],
    ["upstream 503", { status: 503 }, 503, "upstream_unavailable"],
  ];
  for (const [name, mock, status, code] of cases) {
    test(name, async () => {
      const c = await g.customer();
      const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), mock });
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toContain("application/json");
      const body = (await res.json()) as { error: { code: string | null; message: string; type: string } };
      expect(body.error.code).toBe(code);
      expect(body.error.message).not.toContain("upstream-secret-key");
      expect(body.error.message).not.toMatch(/xa\*\*\*yz/);
      if (status >= 500) expect(body.error.type).toBe("server_error");
      if (code === "upstream_overloaded") expect(res.headers.get("retry-after")).toBe("7");
      const a = await g.account(c.accountId);
      expect(a).toMatchObject({ balance_micros: 10_000_000, held_micros: 0 });
      expect(await charges(c.accountId)).toHaveLength(0);
    });
  }
});

describe("streaming", () => {
  test("passes events through, asks the upstream for usage and hides it when the client did not ask", async () => {
    const c = await g.customer();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { prompt_tokens: 12, completion_tokens: 8 } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const requestId = res.headers.get("x-request-id");
    const sse = await readSse(res);
    expect(sse.done).toBe(true);
    expect(g.upstream.requests.at(-1)!.body.stream_options).toEqual({ include_usage: true });
    const chunks = sse.events as { choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[]; usage?: unknown }[];
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe("stop");
    expect(chunks.every((ch) => ch.usage === undefined && ch.choices.length > 0)).toBe(true);
    const ch = await charges(c.accountId);
    expect(ch).toHaveLength(1);
    expect(ch[0]!.request_id).toBe(requestId);
    expect(ch[0]!.amount_micros).toBe(-cost(12, 0, 8));
  });

  test("include_usage: the usage chunk comes before [DONE], normalised (xAI reasoning added)", async () => {
    const c = await g.customer();
    const res = await chat(g.url, c.key, {
      model: "grok-4",
      messages: user(),
      stream: true,
      stream_options: { include_usage: true },
      mock: { usage: "xai", prompt_tokens: 30, completion_tokens: 5, reasoning_tokens: 7 },
    });
    const sse = await readSse(res);
    const last = sse.events.at(-1) as { choices: unknown[]; usage: Record<string, number> };
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 });
    expect((await charges(c.accountId))[0]!.amount_micros).toBe(-cost(30, 0, 12));
  });

  test("no usage in the stream: charged prompt + delivered as an estimate", async () => {
    const c = await g.customer();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { usage: "none", completion_tokens: 10 } });
    const sse = await readSse(res);
    expect(sse.done).toBe(true);
    const u = (await (await fetch(`${g.url}/v1/usage`, { headers: { authorization: `Bearer ${c.key}` } })).json()) as { data: { estimated: boolean; completion_tokens: number; cost_micros: number }[] };
    expect(u.data[0]!.estimated).toBe(true);
    expect(u.data[0]!.completion_tokens).toBeGreaterThanOrEqual(10);
    expect((await charges(c.accountId))[0]!.amount_micros).toBe(-u.data[0]!.cost_micros);
  });

  test("malformed data mid-stream: error event, stream closed, charged only what was delivered", async () => {
    const c = await g.customer();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { malformed_after_chunks: 3, completion_tokens: 20 } });
    const sse = await readSse(res);
    expect(sse.done).toBe(false);
    const last = sse.events.at(-1) as { error: { code: string; type: string } };
    expect(last.error).toMatchObject({ code: "upstream_malformed", type: "server_error" });
    const ch = await charges(c.accountId);
    expect(ch).toHaveLength(1);
    expect(-ch[0]!.amount_micros).toBeLessThan(cost(1000, 0, 20));
    expect((await g.account(c.accountId)).held_micros).toBe(0);
  });

  test("connection dropped mid-stream: error event, charged what was delivered, hold released", async () => {
    const c = await g.customer();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { drop_after_chunks: 4, completion_tokens: 50 } });
    const sse = await readSse(res);
    expect(sse.done).toBe(false);
    expect((sse.events.at(-1) as { error: { type: string } }).error.type).toBe("server_error");
    const ch = await charges(c.accountId);
    expect(ch).toHaveLength(1);
    expect((await g.account(c.accountId)).held_micros).toBe(0);
  });

  test("client abort closes the upstream connection within a second and charges prompt + delivered", async () => {
    const c = await g.customer();
    const abortedBefore = g.upstream.aborted;
    const ctrl = new AbortController();
    const res = await chat(g.url, c.key, { model: "grok-4", messages: user(), stream: true, mock: { hang: "body", after_chunks: 3, prompt_tokens: 10 } }, { signal: ctrl.signal });
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes('"content":"Tollgate meters')) {
      const r = await reader.read();
      text += new TextDecoder().decode(r.value);
      if (!text.includes("meters") && text.split("data:").length < 4) continue;
      if (text.split("data:").length >= 4) break;
    }
    const t0 = Date.now();
    ctrl.abort();
    expect(await until(() => g.upstream.aborted > abortedBefore, 1000)).toBe(true);
    expect(Date.now() - t0).toBeLessThanOrEqual(1000);
    expect(await until(async () => (await charges(c.accountId)).length === 1)).toBe(true);
    const ch = await charges(c.accountId);
    expect(-ch[0]!.amount_micros).toBeGreaterThan(0);
    expect((await g.account(c.accountId)).held_micros).toBe(0);
  });
});
