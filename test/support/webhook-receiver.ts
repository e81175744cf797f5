/** A webhook endpoint on loopback that keeps the bodies it receives (low-balance alerts). */
export function startReceiver() {
  const bodies: string[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      bodies.push(await req.text());
      return new Response("ok");
    },
  });
  return { url: `http://127.0.0.1:${server.port}/hook`, bodies, stop: () => server.stop(true) };
}
