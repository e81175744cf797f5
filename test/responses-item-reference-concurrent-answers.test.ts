/**
 * The hold of an item reference counts a response's items together (at most that response's
 * size), and tells responses apart by the id each item row names, not by when it was recorded or
 * its size. What proves it: the same searched prompt sent several times at once (the upstream
 * answers them together, so the gateway records them in the same millisecond at the same size),
 * then one item of each answer named, holds every answer: a balance that pays for a few is a 402,
 * never a 200 that leaves it far below zero (official SDK). So do input items learnt from listings
 * read together; and an item recorded before rows named their response is held on its own.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
const N = 8;
const PROMPT = 20_000;
const COMPLETION = 500;
// One answer is 20,500 tokens; grok-4 in the test catalogue bills 3 µ per input token.
const ANSWER_MICROS = (PROMPT + COMPLETION) * 3;
let up: MockUpstream;
let front: ReturnType<typeof Bun.serve>;
let g: Gateway;
let answers = 0;
let billedPrompt = 0;
const waiting = new Map<string, (() => void)[]>();

const usage = (prompt: number, completion: number) => ({ input_tokens: prompt, input_tokens_details: { cached_tokens: 0 }, output_tokens: completion, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: prompt + completion });
const answer = (id: string, output: unknown[], prompt: number, completion: number) => ({ id, object: "response", created_at: 1, status: "completed", model: "grok-4-0709", store: true, output, usage: usage(prompt, completion) });
const message = (id: string, text: string) => ({ id, type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text, annotations: [] }] });
function searched(): unknown {
  const n = ++answers;
  return answer(`resp_s_${n}`, [{ id: `ws_${n}`, type: "web_search_call", status: "completed", action: { type: "search", query: "q" } }, message(`msg_${n}`, "found")], PROMPT, COMPLETION);
}

/** Waits until N calls of one kind are in, then lets them all answer at once (as an upstream answering them together). */
function together(kind: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const queue = waiting.get(kind) ?? [];
    waiting.set(kind, queue);
    queue.push(resolve);
    if (queue.length === N) for (const w of queue.splice(0)) w();
  });
}

async function upstream(req: Request): Promise<Response> {
  const u = new URL(req.url);
  const listing = /^\/v1\/responses\/([^/]+)\/input_items$/.exec(u.pathname);
  if (req.method === "GET" && listing) {
    await together("listing");
    const id = listing[1]!;
    return Response.json({ object: "list", data: [{ id: `in_${id}`, type: "message", role: "user", content: [{ type: "input_text", text: "same prompt" }] }], has_more: false });
  }
  if (req.method === "POST" && u.pathname === "/v1/responses") {
    const body = (await req.json()) as { input: unknown };
    if (typeof body.input === "string") {
      await together("answer");
      return Response.json(searched());
    }
    // The upstream bills each referenced item's content again, as prompt.
    const refs = (body.input as { type?: string }[]).filter((i) => i.type === "item_reference").length;
    billedPrompt = refs * (PROMPT + COMPLETION) + 10;
    return Response.json(answer(`resp_c_${++answers}`, [message(`msg_c${answers}`, "ok")], billedPrompt, 8));
  }
  const body = req.method === "GET" || req.method === "DELETE" ? undefined : await req.arrayBuffer();
  return fetch(`${up.url}${u.pathname}${u.search}`, { method: req.method, headers: req.headers, body });
}

beforeAll(async () => {
  up = startFakeUpstream();
  front = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: upstream });
  g = await startGateway({ config: { ...fakeCatalogue(`http://127.0.0.1:${front.port}/v1`), ...SINGLE_SHOT } });
});
afterAll(async () => {
  await g.stop();
  front.stop(true);
  await up.stop();
});

type Row = { id: string; created_at: number; tokens: number; response_id: string | null };
const rowsOf = (ids: readonly string[]): Row[] => {
  g.runtime.deps.store.catchUp?.();
  return g.runtime.deps.store.sqlite.query<Row, []>(`SELECT id, created_at, tokens, response_id FROM upstream_objects WHERE id IN (${ids.map((i) => `'${i}'`).join(",")})`).all();
};
/** How many groups the rows would make by their creation time and size alone (the rule this replaces). */
const byTimeAndSize = (rows: readonly Row[]) => new Set(rows.map((r) => `${r.created_at} ${r.tokens}`)).size;

async function customer() {
  const c = await g.customer(50_000_000);
  return { ...c, client: new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 }) };
}
/** N answers to the same searched prompt, answered together. */
async function answeredTogether(client: OpenAI): Promise<{ id: string; output: { id: string }[] }[]> {
  const made = await Promise.all(Array.from({ length: N }, () => client.responses.create({ model: "grok-4", input: "same prompt", tools: [{ type: "web_search" }] } as never)));
  return made as unknown as { id: string; output: { id: string }[] }[];
}
/** Leaves the account `left` µ, then names `items` in one request; the outcome and the balance after it. */
async function referenceAll(c: Awaited<ReturnType<typeof customer>>, items: readonly string[], left: number) {
  await g.admin(`/admin/accounts/${c.accountId}/credits`, { body: { amount_micros: -((await g.balance(c.accountId)) - left) } });
  const outcome = await c.client.responses
    .create({ model: "grok-4", input: [...items.map((id) => ({ type: "item_reference", id })), { role: "user", content: "summarise" }], max_output_tokens: 16 } as never)
    .then(() => ({ status: 200 }), (e: { status?: number; code?: string }) => ({ status: e.status, code: e.code }));
  return { outcome, balanceNegative: (await g.balance(c.accountId)) < 0 };
}
const refused = { outcome: { status: 402, code: "insufficient_quota" }, balanceNegative: false };

test("items of different answers recorded in one millisecond are each held (no 200 past the balance)", async () => {
  const c = await customer();
  const made = await answeredTogether(c.client);
  const firstItems = made.map((r) => r.output[0]!.id);
  const rows = rowsOf(firstItems);
  expect(rows.map((r) => r.response_id).sort()).toEqual(made.map((r) => r.id).sort());
  // The recordings met in a millisecond: by time and size they would be fewer groups than answers.
  const groups = byTimeAndSize(rows);
  expect(groups).toBeLessThan(N);
  // The balance pays for as many answers as those groups, and a little more: far less than N.
  const result = await referenceAll(c, firstItems, groups * ANSWER_MICROS + 20_000);
  console.log({ rows: rows.length, groups, ...result, billedPrompt });
  expect(result).toEqual(refused);
});

test("input items learnt from listings read together are held per response read", async () => {
  const c = await customer();
  const made = await answeredTogether(c.client);
  const listed = await Promise.all(made.map((r) => c.client.responses.inputItems.list(r.id)));
  const inputs = listed.map((l) => l.data[0]!.id);
  const rows = rowsOf(inputs);
  // Each learnt at the whole size of the response read, naming it.
  expect(rows.map((r) => [r.id, r.response_id, r.tokens]).sort()).toEqual(made.map((r) => [`in_${r.id}`, r.id, PROMPT + COMPLETION]).sort());
  const groups = byTimeAndSize(rows);
  const result = await referenceAll(c, inputs, Math.min(groups, N - 1) * ANSWER_MICROS + 20_000);
  console.log({ learnt: rows.length, groups, ...result });
  expect(result).toEqual(refused);
});

test("items recorded before rows named their response are held each on its own", async () => {
  const c = await customer();
  const [one] = await answeredTogether(c.client);
  const items = one!.output.map((i) => i.id);
  rowsOf(items);
  // As a database migrated from before the column holds them.
  g.runtime.deps.store.sqlite.run(`UPDATE upstream_objects SET response_id = NULL WHERE id IN (${items.map((i) => `'${i}'`).join(",")})`);
  expect(rowsOf(items).map((r) => r.response_id)).toEqual(items.map(() => null));
  // Both items at the answer's size each: a balance for one answer and a little more is not enough.
  expect(await referenceAll(c, items, ANSWER_MICROS + 20_000)).toEqual(refused);
});
