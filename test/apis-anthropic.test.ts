/**
 * The Anthropic SDK against the compiled binary: messages.create, messages.stream with
 * finalMessage(), a tool-use round trip, and its error classes on 401, 402, 429 and 529, each
 * in Anthropic's envelope so that the SDK's retry rules apply.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { until } from "./support/chat";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startBinaryGateway, type BinaryGateway, type Customer } from "./support/gateway";
import { chargeRows } from "./support/resilience";
import { SqliteStore } from "../src/store/sqlite-store";

setDefaultTimeout(60_000);

let upstream: MockUpstream;
let gw: BinaryGateway;
let c: Customer;

beforeAll(async () => {
  upstream = startFakeUpstream();
  gw = await startBinaryGateway({
    dbPath: "t.db",
    config: { ...fakeCatalogue(upstream.url), ...SINGLE_SHOT, log_format: "off", plans: { tight: { rpm: 2, tpm: 100_000, concurrency: 10 } } },
  });
  c = await gw.customer(10_000_000);
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.stop();
});

const anthropic = (key: string, maxRetries = 0) => new Anthropic({ apiKey: key, baseURL: gw.url, maxRetries });

async function chargeOf(accountId: string, requestId: string): Promise<number | undefined> {
  const read = () => {
    const store = new SqliteStore(gw.dbPath!);
    try {
      return chargeRows(store.sqlite, accountId).find((r) => r.request_id === requestId)?.amount_micros;
    } finally {
      store.close();
    }
  };
  await until(() => read() !== undefined, 3_000, 20);
  const v = read();
  return v === undefined ? undefined : -v;
}

describe("Anthropic Messages", () => {
  test("messages.create with x-api-key: billed input + cache reads (cached price) + cache writes, and output", async () => {
    const { data, response } = await anthropic(c.key)
      .messages.create({ model: "grok-4", max_tokens: 100, messages: [{ role: "user", content: "Hello" }], mock: { prompt_tokens: 50, cached_tokens: 20, cache_creation_tokens: 10, completion_tokens: 7 } } as never)
      .withResponse();
    expect(data.type).toBe("message");
    expect(data.usage).toMatchObject({ input_tokens: 20, cache_read_input_tokens: 20, cache_creation_input_tokens: 10, output_tokens: 7 });
    // 50 prompt tokens: 20 + 10 at the input price, 20 cached at 0.75; 7 output at 15.
    expect(await chargeOf(c.accountId, response.headers.get("x-request-id")!)).toBe(Math.ceil(30 * 3 + 20 * 0.75 + 7 * 15));
    expect(response.headers.get("request-id")).toBe(response.headers.get("x-request-id"));
    // The SDK's anthropic-version goes upstream as it came.
    expect(upstream.requests.at(-1)!.headers["anthropic-version"]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  test("messages.stream: text deltas, finalMessage() with the cumulative usage, charged once", async () => {
    const stream = anthropic(c.key).messages.stream({ model: "grok-4", max_tokens: 100, messages: [{ role: "user", content: "Stream" }], mock: { prompt_tokens: 12, completion_tokens: 9 } } as never);
    let text = "";
    stream.on("text", (t) => (text += t));
    const final = await stream.finalMessage();
    expect(final.usage.output_tokens).toBe(9);
    expect(final.usage.input_tokens).toBe(12);
    expect(text.length).toBeGreaterThan(0);
    const requestId = (await stream.withResponse()).response.headers.get("x-request-id")!;
    expect(await chargeOf(c.accountId, requestId)).toBe(12 * 3 + 9 * 15);
  });

  test("a tool-use round trip: tool_use block, then the tool_result turn", async () => {
    const client = anthropic(c.key);
    const tools = [{ name: "get_weather", description: "Weather", input_schema: { type: "object" as const, properties: { city: { type: "string" } } } }];
    const first = await client.messages.create({
      model: "grok-4",
      max_tokens: 200,
      tools,
      messages: [{ role: "user", content: "Weather in Paris?" }],
      mock: { tool_use: { name: "get_weather", input: { city: "Paris" } } },
    } as never);
    expect(first.stop_reason).toBe("tool_use");
    const use = first.content.find((b) => b.type === "tool_use") as { id: string; name: string; input: unknown };
    expect(use).toMatchObject({ name: "get_weather", input: { city: "Paris" } });
    const second = await client.messages.create({
      model: "grok-4",
      max_tokens: 200,
      tools,
      messages: [
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "Sunny, 21 °C" }] },
      ],
    } as never);
    expect(second.stop_reason).toBe("end_turn");
  });

  test("error classes: 401 AuthenticationError, 402 billing_error, 429 RateLimitError with retry-after, 529 when the upstream is unavailable", async () => {
    const failing = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as InstanceType<typeof Anthropic.APIError>);
    const unauth = await failing(anthropic("sk-tg-wrong").messages.create({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "x" }] }));
    expect(unauth).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((unauth!.error as { error: { type: string } }).error.type).toBe("authentication_error");

    const broke = await gw.customer(0);
    const billing = await failing(anthropic(broke.key).messages.create({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "x" }] }));
    expect(billing!.status).toBe(402);
    expect((billing!.error as { error: { type: string } }).error.type).toBe("billing_error");

    const limited = await gw.customer(10_000_000);
    await gw.admin(`/admin/accounts/${limited.accountId}/plan`, { method: "PUT", body: { plan: "tight" } });
    const client = anthropic(limited.key);
    await client.messages.create({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "x" }] });
    await client.messages.create({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "x" }] });
    const rate = await failing(client.messages.create({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "x" }] }));
    expect(rate).toBeInstanceOf(Anthropic.RateLimitError);
    expect(rate!.headers?.get("retry-after")).toMatch(/^\d+$/);

    const overloaded = await failing(
      anthropic(c.key).messages.create({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "x" }], mock: { status: 503 } } as never),
    );
    expect(overloaded!.status).toBe(529);
    expect(overloaded).toBeInstanceOf(Anthropic.InternalServerError);
    expect((overloaded!.error as { error: { type: string } }).error.type).toBe("overloaded_error");
    // The upstream's own 529 (Anthropic's overloaded) too, with the wait it names.
    const busy = await failing(
      anthropic(c.key).messages.create({ model: "grok-4", max_tokens: 5, messages: [{ role: "user", content: "x" }], mock: { status: 529, retry_after: "3" } } as never),
    );
    expect(busy!.status).toBe(529);
    expect((busy!.error as { error: { type: string } }).error.type).toBe("overloaded_error");
    expect(busy!.headers?.get("retry-after")).toBe("3");
  });

  test("routes of Anthropic's SDK the gateway does not serve: a 404 in Anthropic's shape, with its request-id", async () => {
    const failing = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as InstanceType<typeof Anthropic.APIError>);
    for (const call of [
      () => anthropic(c.key).messages.countTokens({ model: "grok-4", messages: [{ role: "user", content: "hi" }] }),
      () => anthropic(c.key).messages.batches.list(),
    ]) {
      const e = await failing(call());
      expect(e).toBeInstanceOf(Anthropic.NotFoundError);
      expect((e!.error as { error: { type: string } }).error.type).toBe("not_found_error");
      expect(e!.requestID).toStartWith("req_");
    }
    // A browser reads request-id (the SDK's) too.
    const res = await fetch(`${gw.url}/v1/messages`, { method: "POST", headers: { origin: "https://app.example.com", "x-api-key": c.key, "content-type": "application/json" }, body: "{}" });
    expect(res.headers.get("access-control-expose-headers") ?? "").toContain("request-id");
  });

  test("models.list and models.retrieve in Anthropic's shape, paged; an OpenAI client still gets OpenAI's", async () => {
    const client = anthropic(c.key);
    const all: Anthropic.ModelInfo[] = [];
    for await (const m of client.models.list({ limit: 2 })) all.push(m);
    const openai = (await (await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${c.key}` } })).json()) as { object: string; data: { id: string; created: number }[] };
    expect(openai.object).toBe("list");
    expect(openai.data.length).toBeGreaterThan(2);
    // Every model once, in the catalogue's order, across pages of two.
    expect(all.map((m) => m.id)).toEqual(openai.data.map((m) => m.id));
    expect(all[0]).toMatchObject({ type: "model", id: openai.data[0]!.id, display_name: openai.data[0]!.id, created_at: new Date(openai.data[0]!.created * 1000).toISOString(), lifecycle: "active", capabilities: null });
    expect(all[0]!.max_input_tokens).toBeGreaterThan(0);
    const first = await client.models.list({ limit: 2 });
    expect(first.has_more).toBe(true);
    expect(first.last_id).toBe(openai.data[1]!.id);
    const before = await client.models.list({ before_id: openai.data[2]!.id, limit: 1 });
    expect(before.data.map((m) => m.id)).toEqual([openai.data[1]!.id]);
    expect(before.has_more).toBe(true);

    expect(await client.models.retrieve(openai.data[0]!.id)).toMatchObject({ type: "model", id: openai.data[0]!.id });
    const failing = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as InstanceType<typeof Anthropic.APIError>);
    const missing = await failing(client.models.retrieve("no-such-model"));
    expect(missing).toBeInstanceOf(Anthropic.NotFoundError);
    expect((missing!.error as { error: { type: string } }).error.type).toBe("not_found_error");
    expect(missing!.requestID).toStartWith("req_");
    expect(await failing(anthropic("sk-wrong").models.list().then((p) => p.data))).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(await failing(client.models.list({ limit: 0 }).then((p) => p.data))).toBeInstanceOf(Anthropic.BadRequestError);
  });

  test("no answer shows the upstream's cost: the cost field carries the customer's charge", async () => {
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": c.key, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model: "grok-4-plus", max_tokens: 50, messages: [{ role: "user", content: "x" }], mock: { prompt_tokens: 100, completion_tokens: 10 } }),
    });
    const body = (await res.json()) as { usage: { cost_in_usd_ticks?: number } };
    expect(upstream.requests.at(-1)!.headers["anthropic-version"]).toBe("2023-06-01");
    const charge = await chargeOf(c.accountId, res.headers.get("x-request-id")!);
    // The upstream billed 100 × 3 + 10 × 15 = 450 micros; the customer pays 20 % more.
    expect(charge).toBe(540);
    if (body.usage.cost_in_usd_ticks !== undefined) expect(body.usage.cost_in_usd_ticks).toBe(540 * 10_000);
  });

  test("usage names the API: /v1/usage, the portal's table and its CSV say messages", async () => {
    const msg = await anthropic(c.key).messages.create({ model: "grok-4", max_tokens: 20, messages: [{ role: "user", content: "which API?" }] });
    expect(msg.type).toBe("message");
    let id: string | undefined;
    await until(async () => {
      const usage = (await (await fetch(`${gw.url}/v1/usage?limit=50`, { headers: { authorization: `Bearer ${c.key}` } })).json()) as { data: { request_id: string; endpoint: string }[] };
      id = usage.data.find((r) => r.endpoint === "messages")?.request_id;
      return id !== undefined;
    }, 3_000, 20);
    expect(id).toBeDefined();
    const cookie = `tg_portal=${await gw.session("customer", c.accountId)}`;
    const page = await (await fetch(`${gw.url}/portal/usage`, { headers: { cookie } })).text();
    expect(page).toContain(`<div class="muted" data-testid="endpoint">messages</div>`);
    const csv = await (await fetch(`${gw.url}/portal/usage.csv`, { headers: { cookie } })).text();
    const [header, ...lines] = csv.trim().split("\r\n");
    const row = lines.map((l) => l.split(",")).find((cells) => cells[1] === id)!;
    expect(row[header!.split(",").indexOf("endpoint")]).toBe("messages");
  });
});
