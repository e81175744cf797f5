/**
 * A whole (non-streaming) upstream answer is read into memory to be metered, so its size is
 * bounded (`max_answer_bytes`): one that declares more is not read, one that turns out longer
 * (chunked, or compressed and inflating past it) is cut at the bound. Either is a 502
 * `upstream_answer_too_large` and, nothing having been delivered, charges nothing. Answers within
 * the bound are read as before, declared or chunked.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { fakeCatalogue, SINGLE_SHOT } from "./support/fake-upstream";
import { startGateway, type Gateway } from "./support/gateway";
import { waitRow } from "./support/scripted-upstream";

setDefaultTimeout(30_000);
const MiB = 1024 * 1024;
type Mode = "declared" | "endless" | "gzip" | "small-chunked" | "small" | "small-gzip";
let mode: Mode = "small";
let cancelled = false;
const answer = (content: string) =>
  JSON.stringify({ id: "c1", object: "chat.completion", created: 1, model: "grok-4-0709", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }], usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 } });
const upstream = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch() {
    const json = { "content-type": "application/json" };
    if (mode === "small") return new Response(answer("hi"), { headers: json });
    if (mode === "declared") return new Response(answer("x".repeat(2 * MiB)), { headers: json });
    if (mode === "gzip") return new Response(Bun.gzipSync(answer(" ".repeat(4 * MiB))), { headers: { ...json, "content-encoding": "gzip" } });
    if (mode === "small-gzip") return new Response(Bun.gzipSync(answer("hi")), { headers: { ...json, "content-encoding": "gzip" } });
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (mode === "small-chunked") {
          ctrl.enqueue(new TextEncoder().encode(sent++ === 0 ? answer("hi").slice(0, 20) : answer("hi").slice(20)));
          if (sent === 2) ctrl.close();
          return;
        }
        if (sent++ === 0) ctrl.enqueue(new TextEncoder().encode('{"id":"c1","choices":[{"message":{"content":"'));
        else ctrl.enqueue(chunk); // never ends
      },
      cancel() {
        cancelled = true;
      },
    });
    return new Response(body, { headers: json });
  },
});
let gw: Gateway;
beforeAll(async () => {
  gw = await startGateway({ config: { ...fakeCatalogue(`http://127.0.0.1:${upstream.port}/v1`, "openai"), ...SINGLE_SHOT, max_answer_bytes: MiB } });
});
afterAll(async () => {
  await gw?.stop();
  upstream.stop(true);
});

async function ask(m: Mode) {
  mode = m;
  const c = await gw.customer(10_000_000);
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${c.key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "grok-4", messages: [{ role: "user", content: "hi" }], max_tokens: 100 }),
  });
  const body = (await res.json()) as { error?: { code?: string } };
  const row = await waitRow(gw, res.headers.get("x-request-id")!);
  return { status: res.status, code: body.error?.code ?? null, charged: row?.cost_micros ?? null, balance: await gw.balance(c.accountId) };
}

const refused = { status: 502, code: "upstream_answer_too_large", charged: 0, balance: 10_000_000 };

test("an answer that declares more than max_answer_bytes is refused unread, charging nothing", async () => {
  expect(await ask("declared")).toEqual(refused);
});

test("an answer of no declared length is cut at max_answer_bytes (the upstream's stream cancelled), charging nothing", async () => {
  cancelled = false;
  expect(await ask("endless")).toEqual(refused);
  expect(cancelled).toBe(true);
});

test("a compressed answer that inflates past max_answer_bytes is cut there too", async () => {
  expect(await ask("gzip")).toEqual(refused);
});

test("answers within the bound, declared, chunked or compressed, are charged as before", async () => {
  for (const m of ["small", "small-chunked", "small-gzip"] as const) {
    expect(await ask(m)).toEqual({ status: 200, code: null, charged: 10 * 3 + 20 * 15, balance: 10_000_000 - (10 * 3 + 20 * 15) });
  }
});
