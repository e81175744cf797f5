/**
 * Each output item of an answer that ran server-side tools is recorded at the whole answer's size
 * (a tool's item may carry what the tool brought in), yet all of one answer's items together are
 * at most that answer. What proves the hold counts them so: naming every item of a searched
 * answer (the way to continue it by item_reference) holds that answer once, not once per item,
 * and a balance that pays what the upstream bills is let in (official SDK); naming one item twice
 * still holds it twice (the upstream bills each mention), and items of two answers hold both.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import type { MockUpstream } from "./support/fake-upstream";
import { onFrontedGateway } from "./support/fronted-upstream";
import type { Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
let up: MockUpstream;
let g: Gateway;
let answers = 0;
// grok-4 in the test catalogue: 3 µ per input token, 15 µ per output token.
const IN = 3;
const OUT = 15;
const PROMPT = 20_000;
const COMPLETION = 500;

const usage = (prompt: number, completion: number) => ({
  input_tokens: prompt,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: completion,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: prompt + completion,
});
const answer = (id: string, output: unknown[], prompt: number, completion: number) => ({
  id,
  object: "response",
  created_at: 1,
  status: "completed",
  model: "grok-4-0709",
  store: true,
  output,
  usage: usage(prompt, completion),
});
const message = (id: string, text: string) => ({ id, type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text, annotations: [] }] });

/** A stored answer that searched the web three times (its prompt in `input`): three web_search_call items and a message. */
function searched(prompt: number): unknown {
  const n = ++answers;
  const search = (q: string) => ({ id: `ws_${n}_${q}`, type: "web_search_call", status: "completed", action: { type: "search", query: q } });
  return answer(`resp_searched_${n}`, [search("a"), search("b"), search("c"), message(`msg_${n}`, "Here is what I found.")], prompt, COMPLETION);
}
/** The continuation, billed what the referenced items hold (at most the first answer) and its own words. */
const continued = () => answer(`resp_continued_${++answers}`, [message(`msg_c${answers}`, "Shorter.")], PROMPT + COMPLETION + 10, 8);

onFrontedGateway(
  async (req, u) => {
    if (req.method !== "POST" || u.pathname !== "/v1/responses") return null;
    const body = (await req.json()) as { input: unknown };
    return Response.json(typeof body.input === "string" ? searched(Number(body.input)) : continued());
  },
  (g_, up_) => {
    g = g_;
    up = up_;
  },
);
/** A customer with a searched answer of `prompt` tokens (the input says how many), then `left` µ. */
async function searchedWith(left: number, prompts: number[]): Promise<{ client: OpenAI; accountId: string; items: string[][] }> {
  const c = await g.customer(10_000_000);
  const client = new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 });
  const items: string[][] = [];
  for (const prompt of prompts) {
    const first = await client.responses.create({ model: "grok-4", input: String(prompt), tools: [{ type: "web_search" }] } as never);
    items.push((first as unknown as { output: { id: string }[] }).output.map((o) => o.id));
  }
  const balance = await g.balance(c.accountId);
  await g.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: -(balance - left) } });
  expect(await g.balance(c.accountId)).toBe(left);
  g.runtime.deps.store.catchUp?.();
  return { client, accountId: c.accountId, items };
}

const outcome = (client: OpenAI, ids: string[]) =>
  client.responses
    .create({ model: "grok-4", input: [...ids.map((id) => ({ type: "item_reference", id })), { role: "user", content: "shorter please" }], max_output_tokens: 16 } as never)
    .then(
      () => ({ status: 200 }),
      (e: { status?: number; code?: string }) => ({ status: e.status, code: e.code }),
    );

describe("the items of one answer are held for that answer once", () => {
  test("continuing a searched answer by referencing all its items holds about that answer once, not once per item", async () => {
    // 0.15 USD left: the continuation is billed about 20,510 prompt tokens at 3 µ (~61,600 µ).
    const { client, accountId, items } = await searchedWith(150_000, [PROMPT]);
    const ids = items[0]!;
    expect(ids).toHaveLength(4);
    const size = (id: string) => g.runtime.deps.store.sqlite.query<{ tokens: number }, [string]>("SELECT tokens FROM upstream_objects WHERE id = ?").get(id)?.tokens;
    // Each item recorded at the whole answer: together four times the answer.
    expect(ids.map(size)).toEqual([20_500, 20_500, 20_500, 20_500]);
    expect(await outcome(client, ids)).toEqual({ status: 200 });
    expect(await g.balance(accountId)).toBe(150_000 - ((PROMPT + COMPLETION + 10) * IN + 8 * OUT));
  });

  test("one item named twice is held twice, and the items of two answers hold both answers (402 on 0.1 USD)", async () => {
    // Twice 20,500 tokens at 3 µ is 123,000 µ; 20,500 and 19,500 tokens are 120,000 µ.
    const { client, accountId, items } = await searchedWith(100_000, [PROMPT, PROMPT - 1_000]);
    const [a, b] = [items[0]!, items[1]!];
    expect(await outcome(client, [a[0]!, a[0]!, a[1]!])).toEqual({ status: 402, code: "insufficient_quota" });
    expect(await outcome(client, [a[0]!, b[0]!])).toEqual({ status: 402, code: "insufficient_quota" });
    // One answer's items fit: the 402s were the sizes named.
    expect(await outcome(client, [a[0]!, a[3]!])).toEqual({ status: 200 });
    expect(await g.balance(accountId)).toBe(100_000 - ((PROMPT + COMPLETION + 10) * IN + 8 * OUT));
  });
});
