/**
 * Fake upstream in Bun with precomputed answers: build:order's, and the harness's without a C compiler.
 * What it answers: docs/benchmarks.md and BENCHMARKS.md.
 * Usage: PORT=... bun bench/upstream.ts (prints "ready <port>").
 */
const CHUNKS = 20;
const enc = new TextEncoder();
const id = "chatcmpl-bench";
const created = 1735689600;
const usage = { prompt_tokens: 24, completion_tokens: CHUNKS, total_tokens: 24 + CHUNKS, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } };

const completion = enc.encode(
  JSON.stringify({
    id, object: "chat.completion", created, model: "bench-model",
    choices: [{ index: 0, message: { role: "assistant", content: "word ".repeat(CHUNKS).trim(), refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage, system_fingerprint: "fp_bench",
  }),
);
const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
  enc.encode(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: "bench-model", choices, ...extra })}\n\n`);
const delta = (d: Record<string, unknown>, finish: string | null = null) => chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);
const events = [delta({ role: "assistant", content: "" }), ...Array.from({ length: CHUNKS }, (_, i) => delta({ content: i ? " word" : "word" })), delta({}, "stop")];
const usageEvent = chunk([], { usage });
const done = enc.encode("data: [DONE]\n\n");

const tick = () => new Promise<void>((r) => setImmediate(r));
const jsonHeaders = { "content-type": "application/json", "x-request-id": "upstream-bench" };
const sseHeaders = { "content-type": "text/event-stream", "cache-control": "no-cache", "x-request-id": "upstream-bench" };

const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  idleTimeout: 0,
  async fetch(req) {
    const body = req.method === "POST" ? await req.text() : "";
    if (!body.includes('"stream":true')) return new Response(completion, { headers: jsonHeaders });
    const withUsage = body.includes('"include_usage":true');
    const queue = withUsage ? [...events, usageEvent, done] : [...events, done];
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        ctrl.enqueue(queue[i++]!);
        if (i === queue.length) return ctrl.close();
        // A real model's tokens leave one by one: give each event its own write.
        await tick();
      },
    });
    return new Response(stream, { headers: sseHeaders });
  },
});
console.log(`ready ${server.port}`);

export {};
