/**
 * An item named by id (`{"type": "item_reference", "id": …}`) is content the upstream bills again
 * as prompt, so the hold counts it as it counts a continued conversation's history: each stored
 * item is recorded with the most it can be billed (an output item its response's output, an
 * input item its response's whole size), and one of unknown size (recorded before sizes were
 * kept, or of an answer without usage) is held for the model's context window. Concurrent
 * references to a large document cannot overdraw the account, one that the credit cannot hold is
 * a 402 before the upstream is asked, and one within the balance is charged exactly what the
 * upstream reports.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(60_000);

let g: Gateway;
beforeAll(async () => {
  g = await startGateway({ upstream: true });
});
afterAll(() => g?.stop());

// grok-4 in the test catalogue: 3 µ per input token, 15 µ per output token, context_window 131,072.
const IN = 3;
const OUT = 15;
const DOC_TOKENS = 50_000;
const doc = "lorem ipsum ".repeat(200_000 / 12);

const post = (key: string, body: unknown) =>
  fetch(`${g.url}/v1/responses`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
const ref = (id: string) => ({ type: "item_reference", id });
const upstreamPosts = () => g.upstream.requests.filter((q) => q.method === "POST" && q.path.endsWith("/responses")).length;

type Stored = { id: string; output: { id: string; type: string }[] };

/** A stored response of the document, paid in full; returns it and its input item's id (learnt by listing it). */
async function storedDocument(key: string, mock: Record<string, number>): Promise<{ resp: Stored; inputItem: string }> {
  const first = await post(key, { model: "grok-4", input: doc, max_output_tokens: 16, mock });
  expect(first.status).toBe(200);
  const resp = (await first.json()) as Stored;
  const items = await fetch(`${g.url}/v1/responses/${resp.id}/input_items`, { headers: { authorization: `Bearer ${key}` } });
  expect(items.status).toBe(200);
  return { resp, inputItem: ((await items.json()) as { data: { id: string }[] }).data[0]!.id };
}

describe("an item reference is held for the stored content it names", () => {
  test("12 concurrent references to a 50k-token input item cannot overdraw the account, as previous_response_id cannot", async () => {
    for (const by of ["item_reference", "previous_response_id"] as const) {
      const c = await g.customer(1_000_000);
      const { resp, inputItem } = await storedDocument(c.key, { prompt_tokens: DOC_TOKENS, completion_tokens: 4 });
      const balance0 = await g.balance(c.accountId);
      // Each request is billed the document again (a real upstream bills referenced content as prompt;
      // the mock adds a previous response's context itself), slowly enough to overlap.
      const mock = { completion_tokens: 4, delay_ms: 400 };
      const body = (): Record<string, unknown> =>
        by === "item_reference"
          ? { model: "grok-4", input: [ref(inputItem), { role: "user", content: "summarize" }], max_output_tokens: 16, mock: { ...mock, prompt_tokens: DOC_TOKENS + 3 } }
          : { model: "grok-4", input: "summarize", previous_response_id: resp.id, max_output_tokens: 16, mock: { ...mock, prompt_tokens: 3 } };
      const rs = await Promise.all(Array.from({ length: 12 }, () => post(c.key, body())));
      const admitted = rs.filter((r) => r.status === 200).length;
      const refused = rs.filter((r) => r.status === 402).length;
      const after = await g.balance(c.accountId);
      // About 0.85 USD left and up to 0.15 USD billed each: some are let in, the rest refused, none overdraws.
      expect({ by, admitted: admitted > 0, refused, overdrawn: after < 0 }).toEqual({ by, admitted: true, refused: 12 - admitted, overdrawn: false });
      if (by === "item_reference") expect(after).toBe(balance0 - admitted * ((DOC_TOKENS + 3) * IN + 4 * OUT));
    }
  });

  test("one reference to a large output item on a small balance is a 402, never sent upstream; a small request still passes", async () => {
    const c = await g.customer(2_000_000);
    // An answer of 120,000 output tokens (beyond the model's limit: charged in full as overage) leaves about 0.2 USD.
    const first = await post(c.key, { model: "grok-4", input: "write a book", mock: { prompt_tokens: 10, completion_tokens: 120_000 } });
    expect(first.status).toBe(200);
    const message = ((await first.json()) as Stored).output.find((o) => o.type === "message")!.id;
    const balance = await g.balance(c.accountId);
    expect(balance).toBe(2_000_000 - 10 * IN - 120_000 * OUT);

    const before = upstreamPosts();
    const refused = await post(c.key, { model: "grok-4", input: [ref(message), { role: "user", content: "shorten it" }], max_output_tokens: 16, mock: { prompt_tokens: 120_010, completion_tokens: 4 } });
    expect(refused.status).toBe(402);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("insufficient_quota");
    expect(upstreamPosts()).toBe(before);
    expect(await g.balance(c.accountId)).toBe(balance);
    // What the balance does cover is let in: the 402 was the reference's size.
    expect((await post(c.key, { model: "grok-4", input: "shorten it", max_output_tokens: 16, mock: { prompt_tokens: 3, completion_tokens: 4 } })).status).toBe(200);
  });

  test("a reference within the balance works (official SDK) and is charged exactly what the upstream reports", async () => {
    const c = await g.customer(1_000_000);
    // A short answer to the 50k-token document: its output item holds its output, not the document
    // (150,000 µ), which the 100,000 µ left could not hold.
    const { resp } = await storedDocument(c.key, { prompt_tokens: DOC_TOKENS, completion_tokens: 16 });
    await g.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: -(1_000_000 - DOC_TOKENS * IN - 16 * OUT - 100_000) } });
    const balance = await g.balance(c.accountId);
    expect(balance).toBe(100_000);
    const client = new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 });
    const answer = await client.responses.create({
      model: "grok-4",
      input: [{ type: "item_reference", id: resp.output.find((o) => o.type === "message")!.id }, { role: "user", content: "and in French?" }],
      max_output_tokens: 16,
      mock: { prompt_tokens: 73, completion_tokens: 9 },
    } as never);
    expect(answer.usage).toMatchObject({ input_tokens: 73, output_tokens: 9 });
    expect(await g.balance(c.accountId)).toBe(balance - (73 * IN + 9 * OUT));
  });

  test("the sizes recorded: an output item its answer's output (with server-side tools the whole answer), an input item its response's whole; none without usage", async () => {
    const c = await g.customer(10_000_000);
    const size = (id: string) => {
      g.runtime.deps.store.catchUp?.();
      return g.runtime.deps.store.sqlite.query<{ tokens: number }, [string]>("SELECT tokens FROM upstream_objects WHERE id = ?").get(id)?.tokens;
    };
    const outputSizes = async (mock: Record<string, unknown>) => {
      const r = await post(c.key, { model: "grok-4", input: "hello", tools: [{ type: "web_search" }], max_output_tokens: 64, mock });
      return ((await r.json()) as Stored).output.map((o) => [o.type, size(o.id)]);
    };
    expect(await outputSizes({ prompt_tokens: 500, completion_tokens: 30, reasoning_tokens: 10 })).toEqual([["reasoning", 40], ["message", 40]]);
    expect(await outputSizes({ prompt_tokens: 500, completion_tokens: 30, tools: { web_search: 1 } })).toEqual([["message", 530]]);
    expect(await outputSizes({ usage: "none" })).toEqual([["message", 0]]);
    const { resp, inputItem } = await storedDocument(c.key, { prompt_tokens: DOC_TOKENS, completion_tokens: 4 });
    expect([size(resp.id), size(inputItem)]).toEqual([DOC_TOKENS + 4, DOC_TOKENS + 4]);
  });

  test("an item recorded before sizes were kept is held for the model's context window", async () => {
    const c = await g.customer(390_000);
    const first = await post(c.key, { model: "grok-4", input: "hello", max_output_tokens: 16, mock: { prompt_tokens: 5, completion_tokens: 3 } });
    const message = ((await first.json()) as Stored).output.find((o) => o.type === "message")!.id;
    g.runtime.deps.store.catchUp?.();
    g.runtime.deps.store.sqlite.run("UPDATE upstream_objects SET tokens = 0 WHERE id = ?", [message]);
    const body = { model: "grok-4", input: [ref(message), { role: "user", content: "more" }], max_output_tokens: 16, mock: { prompt_tokens: 20, completion_tokens: 4 } };
    // 131,072 tokens at 3 µ are 393,216 µ: more than the 389,940 µ left, less than with 10,000 µ more.
    expect(await g.balance(c.accountId)).toBe(390_000 - (5 * IN + 3 * OUT));
    expect((await post(c.key, body)).status).toBe(402);
    await g.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: 10_000 } });
    expect((await post(c.key, body)).status).toBe(200);
    expect(await g.balance(c.accountId)).toBe(400_000 - (5 * IN + 3 * OUT) - (20 * IN + 4 * OUT));
  });
});
