/**
 * Fake upstream in Bun with bench/answers.ts's answers: build:order's, and the harness's without a C compiler.
 * What it answers: docs/benchmarks.md and BENCHMARKS.md.
 * Usage: PORT=... bun bench/upstream.ts (prints "ready <port>").
 */
import { APIS, type BenchApi, UPSTREAM_JSON_HEADERS, UPSTREAM_SSE_HEADERS } from "./answers";

const enc = new TextEncoder();
const byPath = new Map<string, { api: BenchApi; answer: Uint8Array<ArrayBuffer>; events: Uint8Array<ArrayBuffer>[] }>(
  Object.values(APIS).map((api) => [api.path, { api, answer: enc.encode(api.answer), events: api.events.map((e) => enc.encode(e)) }]),
);
const chat = byPath.get(APIS.chat.path)!;

const tick = () => new Promise<void>((r) => setImmediate(r));

const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  idleTimeout: 0,
  async fetch(req) {
    const body = req.method === "POST" ? await req.text() : "";
    const a = byPath.get(new URL(req.url).pathname) ?? chat;
    if (!body.includes('"stream":true')) return new Response(a.answer, { headers: UPSTREAM_JSON_HEADERS });
    const skip = body.includes('"include_usage":true') ? -1 : (a.api.usageEvent ?? -1);
    const queue = a.events.filter((_, i) => i !== skip);
    let i = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        ctrl.enqueue(queue[i++]!);
        if (i === queue.length) return ctrl.close();
        // A real model's tokens leave one by one: give each event its own write.
        await tick();
      },
    });
    return new Response(stream, { headers: UPSTREAM_SSE_HEADERS });
  },
});
console.log(`ready ${server.port}`);
