/**
 * Collections (xAI's knowledge bases) live in the operator's upstream account, which every
 * customer shares: a collection search may name only the collections the operator lists in
 * `searchable_collections`. Any other id is refused (400 `collection_not_allowed` naming where it
 * is) before anything reaches the upstream, with no money moved; a listed one is searched and its
 * calls charged as the tool's.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { loadConfig } from "../src/config/load";
import { startGateway, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);

let gw: Gateway;
let c: Customer;
beforeAll(async () => {
  gw = await startGateway({ upstream: true, config: { searchable_collections: ["collection_docs", "collection_faq"] } });
  c = await gw.customer(10_000_000);
});
afterAll(() => gw?.stop());

const openai = () => new OpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
const posts = () => gw.upstream!.requests.filter((q) => q.method === "POST").length;
type Failure = { status?: number; param?: string | null; code?: string | null; message?: string };

async function refused(call: () => Promise<unknown>, param: string): Promise<void> {
  const before = posts();
  const e = (await call().then(() => null, (err: Failure) => err))!;
  expect(e?.status).toBe(400);
  expect(e).toMatchObject({ param, code: "collection_not_allowed" });
  expect(posts()).toBe(before);
  expect(await gw.account(c.accountId)).toMatchObject({ balance_micros: 10_000_000, held_micros: 0 });
}

describe("collections of the shared upstream account", () => {
  const responses = (tools: unknown[]) => () => openai().responses.create({ model: "grok-4", input: "find it", tools, mock: { input_tokens: 5, output_tokens: 3 } } as never);

  test("Responses: a file_search naming an unlisted collection, among listed ones, is refused", async () => {
    await refused(responses([{ type: "file_search", vector_store_ids: ["collection_docs", "collection_private"] }]), "tools.0.vector_store_ids.1");
    await refused(responses([{ type: "function", name: "f", parameters: {} }, { type: "file_search", vector_store_ids: ["collection_hr"] }]), "tools.1.vector_store_ids.0");
    await refused(responses([{ type: "file_search", vector_store_ids: "collection_docs" }]), "tools.0.vector_store_ids");
  });

  test("Chat: a collections_search naming an unlisted collection is refused", async () => {
    const tools = [{ type: "collections_search", collection_ids: ["collection_secret"] }];
    await refused(() => openai().chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "q" }], tools, mock: {} } as never), "tools.0.collection_ids.0");
  });

  test("listed collections are searched, and the calls charged as the tool's", async () => {
    const before = posts();
    const r = await openai().responses.create({
      model: "grok-4",
      input: "find it",
      tools: [{ type: "file_search", vector_store_ids: ["collection_docs", "collection_faq"] }],
      mock: { input_tokens: 5, output_tokens: 3, tools: { collections_search: 2 } },
    } as never);
    expect(r.status).toBe("completed");
    expect(posts()).toBe(before + 1);
    const sent = gw.upstream!.requests.at(-1)!.body as { tools: unknown };
    expect(sent.tools).toEqual([{ type: "file_search", vector_store_ids: ["collection_docs", "collection_faq"] }]);
    expect((await gw.account(c.accountId)).balance_micros).toBeLessThan(10_000_000 - 2 * 2_500);
  });
});

describe("the setting", () => {
  test("defaults to none; the environment takes a comma-separated list or none", () => {
    expect(loadConfig({ env: {} }).searchable_collections).toEqual([]);
    expect(loadConfig({ env: { TOLLGATE_SEARCHABLE_COLLECTIONS: "collection_a, collection_b" } }).searchable_collections).toEqual(["collection_a", "collection_b"]);
    expect(loadConfig({ env: { TOLLGATE_SEARCHABLE_COLLECTIONS: "none" } }).searchable_collections).toEqual([]);
    expect(() => loadConfig({ env: { TOLLGATE_SEARCHABLE_COLLECTIONS: "bad id" } })).toThrow(/searchable_collections/);
  });

  test("with none listed, every collection search is refused; other tools pass", async () => {
    const bare = await startGateway({ upstream: true });
    try {
      const k = await bare.customer(1_000_000);
      const client = new OpenAI({ apiKey: k.key, baseURL: `${bare.url}/v1`, maxRetries: 0 });
      const e = await client.responses.create({ model: "grok-4", input: "x", tools: [{ type: "file_search", vector_store_ids: ["collection_docs"] }] } as never).then(() => null, (err: Failure) => err);
      expect(e).toMatchObject({ status: 400, param: "tools.0.vector_store_ids.0", code: "collection_not_allowed" });
      const ok = await client.responses.create({ model: "grok-4", input: "x", tools: [{ type: "web_search" }], mock: {} } as never);
      expect(ok.status).toBe("completed");
    } finally {
      await bare.stop();
    }
  });
});
