/**
 * An upstream that answers with a redirect is never followed: fetch would carry the operator's
 * upstream key (`x-api-key`, which Bun keeps on a cross-origin redirect) and the customer's prompt
 * to whatever origin it names, and bill that origin's answer. The redirect counts as a failure of
 * the deployment (next deployment, breaker); the customer gets a 502 and pays nothing.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import OpenAI from "openai";
import { fakeCatalogue } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";

const seen: { url: string; xApiKey: string | null; authorization: string | null }[] = [];
const elsewhere = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: (req) => {
    seen.push({ url: req.url, xApiKey: req.headers.get("x-api-key"), authorization: req.headers.get("authorization") });
    return Response.json({ id: "chatcmpl-elsewhere", object: "chat.completion", created: 1, model: "grok-4", choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } });
  },
});
// The upstream answers every request with a redirect to another origin.
const upstream = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: (req) => new Response(null, { status: 307, headers: { location: `http://localhost:${elsewhere.port}${new URL(req.url).pathname}` } }),
});
let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ config: { ...fakeCatalogue(`http://127.0.0.1:${upstream.port}/v1`), retry: { max_attempts: 1 } } });
});
afterAll(async () => {
  await gw.stop();
  elsewhere.stop(true);
  upstream.stop(true);
});

test("a redirecting upstream: not followed, 502, nothing charged, the key never sent elsewhere", async () => {
  const c = await gw.customer(1_000_000);
  const client = new OpenAI({ apiKey: c.key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const e = await client.chat.completions.create({ model: "grok-4", messages: [{ role: "user", content: "hi" }] }).then(() => null, (err: { status?: number }) => err);
  expect(e?.status).toBe(502);
  expect(seen).toEqual([]);
  expect(await gw.account(c.accountId)).toMatchObject({ balance_micros: 1_000_000, held_micros: 0 });
});
