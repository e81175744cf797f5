import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Anthropic from "@anthropic-ai/sdk";
import { startGateway, type Gateway } from "./support/gateway";

/**
 * GET /v1/language-models and /v1/image-generation-models: the gateway's own catalogue in xAI's
 * formats, at the customer's prices in xAI's units (token prices in USD cents per 100M tokens,
 * image prices in 1e-10 USD), over real HTTP; and GET /v1/models as Anthropic's SDK reads it.
 */
const CONFIG = {
  providers: [{ id: "xai", base_url: "http://127.0.0.1:9/v1", api_key: "xai-unused" }],
  models: [
    {
      id: "chat-a", provider: "xai", upstream_model: "grok-4.3", input_price: 1.25, cached_input_price: 0.2, output_price: 2.5, created: 1777507200,
      long_context: { above_tokens: 199_999, input_price: 2.5, cached_input_price: 0.4, output_price: 5 },
      tool_prices: { web_search: 6 },
    },
    // A price between two of xAI's units is shown rounded up; no cached price means the input price.
    { id: "chat-b", provider: "xai", input_price: 0.000101, output_price: 1.000001 },
    // cost_plus: billed at the upstream's cost plus 10 %, so listed with the markup.
    { id: "chat-cp", provider: "xai", input_price: 2, cached_input_price: 0.5, output_price: 6, pricing: "cost_plus", markup_percent: 10 },
    { id: "img-a", provider: "xai", kind: "image", image_price: 0.02, created: 1769472000 },
    { id: "img-b", provider: "xai", kind: "image", image_price: 0.000001 },
  ],
};

let g: Gateway;
const get = (path: string, key?: string) => fetch(`${g.url}${path}`, key ? { headers: { authorization: `Bearer ${key}` } } : {});
const ids = (body: { models: { id: string }[] }) => body.models.map((m) => m.id);

beforeAll(async () => {
  g = await startGateway({ config: CONFIG });
});
afterAll(() => g.stop());

describe("GET /v1/language-models", () => {
  test("chat models only, at the configured prices in xAI's units", async () => {
    const { key } = await g.customer();
    const res = await get("/v1/language-models", key);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-ratelimit-limit-requests")).not.toBeNull();
    const body = (await res.json()) as { models: Record<string, unknown>[] };
    expect(ids(body as never)).toEqual(["chat-a", "chat-b", "chat-cp"]);
    expect(body.models[0]).toEqual({
      id: "chat-a", fingerprint: "fp_tollgate", created: 1777507200, object: "model", owned_by: "xai", version: "1.0",
      input_modalities: ["text", "image"], output_modalities: ["text"],
      prompt_text_token_price: 12_500, cached_prompt_text_token_price: 2_000, prompt_image_token_price: 12_500, completion_text_token_price: 25_000,
      search_price: 60_000_000, // $6 per 1,000 searches = 0.6 cents each
      prompt_text_token_price_long_context: 25_000, cached_prompt_text_token_price_long_context: 4_000, completion_text_token_price_long_context: 50_000,
      long_context_threshold: 200_000,
      aliases: [],
    });
    // $0.000101 per 1M is 1.01 cents per 100M: shown as 2; $1.000001 as 10001 (10000.01 rounded up).
    expect(body.models[1]).toMatchObject({
      prompt_text_token_price: 2, cached_prompt_text_token_price: 2, completion_text_token_price: 10_001,
      search_price: 50_000_000, long_context_threshold: 0, prompt_text_token_price_long_context: 0,
    });
    expect(body.models[2]).toMatchObject({ prompt_text_token_price: 22_000, cached_prompt_text_token_price: 5_500, completion_text_token_price: 66_000 });
  });

  test("a key limited to some models sees only those", async () => {
    const { key } = await g.customer(1_000_000, { models: ["chat-b", "img-a"] });
    expect(ids((await (await get("/v1/language-models", key)).json()) as never)).toEqual(["chat-b"]);
    expect(ids((await (await get("/v1/image-generation-models", key)).json()) as never)).toEqual(["img-a"]);
  });

  test("401 invalid_api_key without a key or with a wrong one", async () => {
    for (const path of ["/v1/language-models", "/v1/image-generation-models"]) {
      for (const res of [await get(path), await get(path, "sk-tg-nope")]) {
        expect(res.status).toBe(401);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key");
      }
    }
  });
});

describe("GET /v1/image-generation-models", () => {
  test("image models only, priced per image in 1e-10 USD", async () => {
    const { key } = await g.customer();
    const res = await get("/v1/image-generation-models", key);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-ratelimit-remaining-requests")).not.toBeNull();
    const body = (await res.json()) as { models: Record<string, unknown>[] };
    expect(ids(body as never)).toEqual(["img-a", "img-b"]);
    expect(body.models[0]).toEqual({
      id: "img-a", fingerprint: "fp_tollgate", max_prompt_length: 131072, created: 1769472000, object: "model", owned_by: "xai", version: "1.0",
      input_modalities: ["text", "image"], output_modalities: ["image"], image_price: 200_000_000, aliases: [],
    });
    expect(body.models[1]).toMatchObject({ image_price: 10_000 });
  });

  test("GET /v1/models still lists every model the key may use, images included", async () => {
    const { key } = await g.customer();
    const body = (await (await get("/v1/models", key)).json()) as { data: { id: string }[] };
    expect(body.data.map((m) => m.id)).toEqual(["chat-a", "chat-b", "chat-cp", "img-a", "img-b"]);
  });
});

describe("GET /v1/models for Anthropic's SDK", () => {
  test("list and retrieve carry request-id (the SDK's _request_id) on success, as on errors; an OpenAI client gets only x-request-id", async () => {
    const { key } = await g.customer();
    const client = new Anthropic({ apiKey: key, baseURL: g.url, maxRetries: 0 });
    const { data: page, response } = await client.models.list().withResponse();
    expect(page.data.map((m) => m.id)).toEqual(["chat-a", "chat-b", "chat-cp", "img-a", "img-b"]);
    expect(response.headers.get("request-id")).toStartWith("req_");
    expect(response.headers.get("request-id")).toBe(response.headers.get("x-request-id"));
    const one = await client.models.retrieve("chat-a");
    expect(one.id).toBe("chat-a");
    expect(one._request_id).toStartWith("req_");
    const missing = await client.models.retrieve("no-such-model").catch((e: InstanceType<typeof Anthropic.APIError>) => e);
    expect(missing).toBeInstanceOf(Anthropic.NotFoundError);
    expect((missing as InstanceType<typeof Anthropic.APIError>).requestID).toStartWith("req_");
    const openai = await get("/v1/models/chat-a", key);
    expect(openai.headers.get("x-request-id")).toStartWith("req_");
    expect(openai.headers.get("request-id")).toBeNull();
  });
});
