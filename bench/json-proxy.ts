/**
 * The metering floor as a server: bench/json-floor.ts's handler (EXTRAS=1: with abort signal,
 * timer, headers), or with MONEY=1 the money floor (bench/money-floor.ts: its SQLite file and
 * journal in DIR, customers' key KEY). What they stand for: docs/benchmarks.md and BENCHMARKS.md.
 * Usage: PORT=... UPSTREAM=http://127.0.0.1:N [EXTRAS=1 | MONEY=1 DIR=... KEY=...] bun bench/json-proxy.ts (prints "ready <port>").
 */
import { meteringFloor } from "./json-floor";
import { moneyFloor } from "./money-floor";

const env = process.env;
const server = Bun.serve({
  port: Number(env.PORT ?? 0),
  hostname: "127.0.0.1",
  idleTimeout: 0,
  fetch: env.MONEY === "1" ? moneyFloor(env.UPSTREAM!, env.DIR!, env.KEY!).handler : meteringFloor(env.UPSTREAM!, env.EXTRAS === "1"),
});
console.log(`ready ${server.port}`);
