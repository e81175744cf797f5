/**
 * The metering floor's handler: the bare proxy plus parsing the request and the answer (extras:
 * plus abort signal, timer, headers), for any of the benchmarked APIs (bench/answers.ts). Served
 * by bench/json-proxy.ts, called in process by bench/hot-path.ts. What it stands for: docs/benchmarks.md and BENCHMARKS.md.
 */
export const RATE_HEADERS = {
  "x-ratelimit-limit-requests": "100000000",
  "x-ratelimit-remaining-requests": "99999999",
  "x-ratelimit-reset-requests": "1ms",
  "x-ratelimit-limit-tokens": "10000000000",
  "x-ratelimit-remaining-tokens": "9999999999",
  "x-ratelimit-reset-tokens": "1ms",
};

export function meteringFloor(upstream: string, extras: boolean): (req: Request) => Promise<Response> {
  let n = 0;
  return async (req) => {
    const body = JSON.parse(await req.text()) as Record<string, unknown>;
    const controller = extras ? new AbortController() : null;
    const onAbort = () => controller?.abort();
    if (controller) req.signal.addEventListener("abort", onAbort, { once: true });
    const timer = controller ? setTimeout(onAbort, 600_000) : undefined;
    const res = await fetch(upstream + new URL(req.url).pathname, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: req.headers.get("authorization") ?? "" },
      body: JSON.stringify(body),
      signal: controller?.signal,
    });
    const stream = body.stream === true;
    const headers: Record<string, string> = { "content-type": stream ? "text/event-stream" : "application/json" };
    const done = () => {
      clearTimeout(timer);
      req.signal.removeEventListener("abort", onAbort);
    };
    if (controller) Object.assign(headers, { "x-request-id": `req_${++n}`, ...RATE_HEADERS });
    if (stream) return new Response(tapped(res.body!, done), { status: res.status, headers });
    const json = JSON.parse(await res.text()) as { usage?: unknown };
    done();
    return new Response(JSON.stringify(json), { status: res.status, headers });
  };
}

/**
 * Forwards the upstream's chunks unchanged after parsing every SSE event in them; `done` gets the
 * last usage seen, and the stream closes once what it returns has settled (the money floor's charge).
 */
export function tapped(upstreamBody: ReadableStream<Uint8Array>, done: (usage: unknown) => void | Promise<void>): ReadableStream<Uint8Array> {
  const reader = upstreamBody.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  let usage: unknown = null;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      const r = await reader.read();
      if (r.done) {
        if (usage === null) console.error("stream without usage");
        const settled = done(usage);
        if (settled) await settled;
        return ctrl.close();
      }
      buffered += decoder.decode(r.value, { stream: true });
      for (let i = buffered.indexOf("\n\n"); i >= 0; i = buffered.indexOf("\n\n")) {
        const evt = buffered.slice(0, i);
        buffered = buffered.slice(i + 2);
        // Named events (Responses, Messages) put their data after an `event:` line.
        const line = evt.indexOf("\ndata: ") + 1;
        if (evt.startsWith("data: ", line) && evt !== "data: [DONE]") {
          const e = JSON.parse(evt.slice(line + 6)) as { usage?: unknown; response?: { usage?: unknown } };
          usage = e.usage ?? e.response?.usage ?? usage;
        }
      }
      ctrl.enqueue(r.value);
    },
    cancel: () => reader.cancel(),
  });
}
