/**
 * A deferred result whose usage has no prompt count is charged as any whole answer without usage
 * (the prompt's estimate and its text's), as the same answer not deferred is: never released for
 * free, never a 502.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { fakeCatalogue } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";

const RESULT = {
  id: "chatcmpl-1", object: "chat.completion", created: 1, model: "grok-4-0709",
  choices: [{ index: 0, message: { role: "assistant", content: "A fine answer of some forty characters." }, finish_reason: "stop" }],
  usage: { completion_tokens: 50, total_tokens: 50 },
};
let server: ReturnType<typeof Bun.serve>;
let gw: Gateway;
beforeAll(async () => {
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method === "POST" && path.endsWith("/chat/completions")) {
        const body = (await req.json()) as { deferred?: boolean };
        return Response.json(body.deferred ? { request_id: "up-1" } : RESULT);
      }
      if (path.includes("/chat/deferred-completion/")) return Response.json(RESULT);
      return new Response("no", { status: 404 });
    },
  });
  gw = await startGateway({ config: { ...fakeCatalogue(`http://127.0.0.1:${server.port}/v1`), retry: { max_attempts: 1 } } });
});
afterAll(async () => {
  await gw?.stop();
  server?.stop(true);
});

const post = (key: string, body: Record<string, unknown>) =>
  fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });

test("plain whole answer with usage lacking prompt_tokens: charged its estimate (control)", async () => {
  const c = await gw.customer(1_000_000);
  const res = await post(c.key, { model: "grok-4", max_tokens: 100, messages: [{ role: "user", content: "hello there" }] });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  expect(await gw.balance(c.accountId)).toBeLessThan(1_000_000);
});

test("deferred result with usage lacking prompt_tokens: charged its estimate, not released for free", async () => {
  const c = await gw.customer(1_000_000);
  const res = await post(c.key, { model: "grok-4", max_tokens: 100, deferred: true, messages: [{ role: "user", content: "hello there" }] });
  expect(res.status).toBe(200);
  const { request_id } = (await res.json()) as { request_id: string };
  const poll = await fetch(`${gw.url}/v1/chat/deferred-completion/${request_id}`, { headers: { authorization: `Bearer ${c.key}` } });
  const text = await poll.text();
  console.log("poll:", poll.status, text.slice(0, 160), "balance:", await gw.balance(c.accountId));
  expect(poll.status).toBe(200);
  expect(await gw.balance(c.accountId)).toBeLessThan(1_000_000);
});
