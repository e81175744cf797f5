/**
 * The metering floor as a server: bench/json-floor.ts's handler (EXTRAS=1: with abort signal, timer, headers).
 * What it stands for: docs/benchmarks.md and BENCHMARKS.md.
 * Usage: PORT=... UPSTREAM=http://127.0.0.1:N [EXTRAS=1] bun bench/json-proxy.ts (prints "ready <port>").
 */
import { meteringFloor } from "./json-floor";

const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  idleTimeout: 0,
  fetch: meteringFloor(process.env.UPSTREAM!, process.env.EXTRAS === "1"),
});
console.log(`ready ${server.port}`);
