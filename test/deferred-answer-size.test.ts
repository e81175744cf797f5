/**
 * `max_answer_bytes` bounds every whole upstream answer the gateway reads, a deferred completion's
 * result and a stored response's read included (here a ~4 KiB gzip inflating to 4 MiB, past a
 * 1 MiB bound). A deferred result over the bound is a 502 `upstream_answer_too_large` that keeps
 * its hold, neither charged nor released (the upstream made it and billed the operator): it is not
 * asked for again, by a poll or the poller, and the end of the upstream's day releases it. A stored
 * response's read over the bound is a 502 that forgets nothing.
 */
import { beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import OpenAI from "openai";
import { settleDeferred } from "../src/gateway/deferred-results";
import { DEFERRED_POLL_INTERVAL_MS } from "../src/modules/deferred/polls";
import type { MockUpstream } from "./support/fake-upstream";
import { onFrontedGateway } from "./support/fronted-upstream";
import { TestClock, type Customer, type Gateway } from "./support/gateway";

setDefaultTimeout(30_000);
const MAX = 1024 * 1024;
let up: MockUpstream;
let g: Gateway;
const clock = new TestClock();
/** Whether the ingress in front of the upstream answers deferred fetches and stored reads with a huge (compressed) body. */
let huge = false;
/** Deferred fetches that reached the ingress. */
let deferredAsks = 0;
const chatAnswer = (id: string) =>
  JSON.stringify({
    id,
    object: "chat.completion",
    created: 1,
    model: "grok-4",
    choices: [{ index: 0, message: { role: "assistant", content: "x".repeat(4 * MAX) }, finish_reason: "stop" }],
    usage: { prompt_tokens: 100, completion_tokens: 40, total_tokens: 140 },
  });
const storedAnswer = (id: string) => JSON.stringify({ id, object: "response", status: "completed", output: [], text: "x".repeat(4 * MAX) });
/** Compressed, as an upstream may send it: its declared length is the gzip's (~4 KiB). */
const gzipped = (text: string) => new Response(Bun.gzipSync(Buffer.from(text)), { headers: { "content-type": "application/json", "content-encoding": "gzip" } });
beforeAll(() => clock.run());
onFrontedGateway(
  (req, u) => {
    const id = u.pathname.split("/").pop()!;
    if (req.method === "GET" && u.pathname.startsWith("/v1/chat/deferred-completion/")) {
      deferredAsks++;
      if (huge) return gzipped(chatAnswer(id));
    }
    return huge && req.method === "GET" && u.pathname.startsWith("/v1/responses/") ? gzipped(storedAnswer(id)) : null;
  },
  (g_, up_) => {
    g = g_;
    up = up_;
  }, { clock: clock, config: { max_answer_bytes: MAX } },
);
const headers = (c: Customer) => ({ authorization: `Bearer ${c.key}`, "content-type": "application/json" });
const poll = async (c: Customer, id: string) => {
  const res = await fetch(`${g.url}/v1/chat/deferred-completion/${id}`, { headers: headers(c) });
  const bytes = await res.arrayBuffer();
  const code = res.status === 502 ? (JSON.parse(new TextDecoder().decode(bytes)) as { error: { code: string } }).error.code : null;
  return { status: res.status, code, overBound: bytes.byteLength > MAX };
};
const pending = async (id: string) => (await g.runtime.deps.deferred.get(id))?.settledAt === null;
const held = async (c: Customer) => (await g.account(c.accountId)).held_micros;

test("a deferred result over max_answer_bytes is a 502 that keeps the hold, is not asked for again, and is released at the day's end", async () => {
  const c = await g.customer(10_000_000);
  const before = await g.balance(c.accountId);
  const body = { model: "grok-4", deferred: true, max_tokens: 50, messages: [{ role: "user", content: "hi" }], mock: { deferred_ms: 10, prompt_tokens: 100, completion_tokens: 40 } };
  const res = await fetch(`${g.url}/v1/chat/completions`, { method: "POST", headers: headers(c), body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  const id = ((await res.json()) as { request_id: string }).request_id;
  await Bun.sleep(50);

  huge = true;
  const first = await poll(c, id).finally(() => (huge = false));
  const kept = (await g.runtime.deps.deferred.get(id))?.result?.length ?? 0;
  const tooLarge = { status: 502, code: "upstream_answer_too_large", overBound: false };
  expect({ first, keptOverBound: kept > MAX, pending: await pending(id), holds: (await held(c)) > 0 }).toEqual({ first: tooLarge, keptOverBound: false, pending: true, holds: true });

  // Neither a later poll nor the poller asks again (the upstream serves a result once): the hold stays.
  const asked = deferredAsks;
  await Bun.sleep(DEFERRED_POLL_INTERVAL_MS + 100);
  const later = await poll(c, id);
  await settleDeferred(g.runtime.deps, 0);
  expect({ later, asked: deferredAsks - asked, pending: await pending(id), holds: (await held(c)) > 0 }).toEqual({ later: tooLarge, asked: 0, pending: true, holds: true });

  // Past the upstream's day it is released as one nobody fetched: nothing charged.
  clock.freeze();
  clock.add(25 * 3_600_000);
  await settleDeferred(g.runtime.deps, 0);
  clock.run();
  expect({ pending: await pending(id), held: await held(c), charged: before - (await g.balance(c.accountId)), asked: deferredAsks - asked }).toEqual({ pending: false, held: 0, charged: 0, asked: 0 });
  expect((await poll(c, id)).status).toBe(404);
});

test("a stored response's read over max_answer_bytes is a 502 that forgets nothing", async () => {
  const c = await g.customer(10_000_000);
  const o = new OpenAI({ apiKey: c.key, baseURL: `${g.url}/v1`, maxRetries: 0 });
  const r = await o.responses.create({ model: "grok-4", input: "hello", store: true });
  huge = true;
  const during = await o.responses.retrieve(r.id).then(
    () => ({ status: 200, code: null as string | null }),
    (e: { status?: number; code?: string | null }) => ({ status: e.status, code: e.code ?? null }),
  ).finally(() => (huge = false));
  const after = await o.responses.retrieve(r.id).then(() => 200, (e: { status?: number }) => e.status);
  expect({ during, after }).toEqual({ during: { status: 502, code: "upstream_answer_too_large" }, after: 200 });
});
