/**
 * The floor of the runtime: a passthrough reverse proxy in Bun with no auth and no parsing.
 * Usage: PORT=... UPSTREAM=http://127.0.0.1:N bun bench/bare-proxy.ts (prints "ready <port>").
 */
const upstream = process.env.UPSTREAM!;
const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  idleTimeout: 0,
  async fetch(req) {
    const url = new URL(req.url);
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
    const headers = new Headers(req.headers);
    headers.delete("host");
    return fetch(upstream + url.pathname + url.search, { method: req.method, headers, body, decompress: false });
  },
});
console.log(`ready ${server.port}`);

export {};
