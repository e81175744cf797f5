/**
 * The floor of any metering gateway in Bun: the bare proxy plus the two steps metering cannot
 * skip, parsing the request JSON and parsing (then re-serialising) the JSON answer to read its
 * usage. No auth, no limits, no money. With EXTRAS=1 it also does what every request of a
 * well-behaved gateway costs the runtime: an abort signal tied to the client's request, a total
 * timeout timer, and OpenAI's x-request-id and x-ratelimit-* response headers.
 * `bun bench/compare.ts --json-floor` measures both against the bare proxy.
 * Usage: PORT=... UPSTREAM=http://127.0.0.1:N [EXTRAS=1] bun bench/json-proxy.ts (prints "ready <port>").
 */
const upstream = process.env.UPSTREAM!;
const extras = process.env.EXTRAS === "1";
const RATE_HEADERS = {
  "x-ratelimit-limit-requests": "100000000",
  "x-ratelimit-remaining-requests": "99999999",
  "x-ratelimit-reset-requests": "1ms",
  "x-ratelimit-limit-tokens": "10000000000",
  "x-ratelimit-remaining-tokens": "9999999999",
  "x-ratelimit-reset-tokens": "1ms",
};
let n = 0;

const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  idleTimeout: 0,
  async fetch(req) {
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
    const json = JSON.parse(await res.text()) as { usage?: unknown };
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (controller) {
      clearTimeout(timer);
      req.signal.removeEventListener("abort", onAbort);
      Object.assign(headers, { "x-request-id": `req_${++n}`, ...RATE_HEADERS });
    }
    return new Response(JSON.stringify(json), { status: res.status, headers });
  },
});
console.log(`ready ${server.port}`);

export {};
