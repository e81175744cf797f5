/**
 * Tollgate's own work per request without the network: the chat route called in this process
 * (key, limits, hold, upstream call, meter, settlement with its journal, write-behind and log
 * line; chat completions, or with --api= Responses or Messages) against an upstream answered in memory, beside the metering floor's handler
 * (bench/json-proxy.ts with signal, timer and headers) under the same stub, in interleaved
 * rounds. Their difference is what the gateway adds; the sockets, which both would pay alike,
 * are left out, so a change of a microsecond shows through a noisy machine.
 * Usage: bun bench/hot-path.ts [--api=chat|responses|messages] [--stream] [--floor=money] [--rounds=9] [--requests=20000] [--concurrency=50] [--only=floor|tollgate] [--objects] > /dev/null
 * (--objects prints the objects each side allocates per request, by type, instead of the CPU rounds)
 * (--only runs one side, e.g. to read its collector log with BUN_JSC_logGC=1; --config='{"log_format":"off"}'
 * merges settings into the gateway's configuration)
 * (the figures go to stderr; stdout carries the gateway's log lines, as in production).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load";
import { METERED_APIS } from "../src/gateway/apis";
import { gatewayRoute } from "../src/gateway/route";
import { apiArg, UPSTREAM_JSON_HEADERS, UPSTREAM_SSE_HEADERS } from "./answers";
import { buildRuntime, startServer } from "../src/runtime/server";
import { meteringFloor } from "./json-floor";
import { moneyFloor } from "./money-floor";
import { objectsPerRequest, objectsTable } from "./objects";
import { ADMIN_TOKEN, freePort, jsonHeaders, provision, tollgateConfig } from "./targets";

const arg = (n: string, d: string) => Number(process.argv.find((a) => a.startsWith(`--${n}=`))?.split("=")[1] ?? d);
const rounds = arg("rounds", "9");
const requests = arg("requests", "20000");
const concurrency = arg("concurrency", "50");

const api = apiArg(process.argv);
const enc = new TextEncoder();
// What the fake upstreams answer, byte for byte (the usage chunk is asked for).
const EVENTS = api.events.map((e) => enc.encode(e));
const tick = () => new Promise((resolve) => setImmediate(resolve));
/** An SSE body whose events arrive one per event-loop turn, as separate writes of a socket would. */
const sse = () => {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      await tick();
      if (i < EVENTS.length) ctrl.enqueue(EVENTS[i++]!);
      else ctrl.close();
    },
  }, { highWaterMark: 0 });
};
const realFetch = globalThis.fetch;
const stubFetch = async (_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
  if (typeof init?.body !== "string") throw new Error("stub upstream: a string body was expected");
  // Answered from the event loop, as a socket would be: timers (the write-behind, the log) run between answers.
  await tick();
  if (init.body.includes('"stream":true')) return new Response(sse(), { headers: UPSTREAM_SSE_HEADERS });
  // With its length, as an upstream over a socket answers (bench/upstream.c).
  return new Response(api.answer, { headers: { ...UPSTREAM_JSON_HEADERS, "content-length": String(Buffer.byteLength(api.answer)) } });
};

const dir = mkdtempSync(join(tmpdir(), "tollgate-hot-"));
// The upstream URL is this gateway's own listener: the connect check before the first call must find a port.
const port = await freePort();
const upstream = { url: `http://127.0.0.1:${port}`, port, pids: () => [], stop: async () => {} };
const extra = JSON.parse(process.argv.find((a) => a.startsWith("--config="))?.slice("--config=".length) ?? "{}") as Record<string, unknown>;
const config = loadConfig({ env: {}, overrides: { db_path: join(dir, "tollgate.db"), admin_token: ADMIN_TOKEN, ...tollgateConfig(upstream), ...extra } });
const rt = buildRuntime(config, {});
const srv = startServer(rt, { port, hostname: "127.0.0.1" });
const { key } = await provision(upstream.url);
const dialect = METERED_APIS.find((m) => m.path === api.path)!.dialect;
const route = gatewayRoute(rt.deps, dialect);
// As a client sends it: with its length (Bun then reads the body natively, as it does from a socket).
const streaming = process.argv.includes("--stream");
const body = streaming ? api.streamBody : api.body;
const headers = { ...jsonHeaders(key), ...api.headers, "content-length": String(Buffer.byteLength(body)) };

// bench/json-proxy.ts's handler with EXTRAS=1, on the same stub (it calls the global fetch), or
// with --floor=money the money floor (bench/money-floor.ts: chat completions only).
const money = process.argv.includes("--floor=money") ? moneyFloor("http://upstream", dir, key) : null;
if (money && api.id !== "chat") throw new Error("--floor=money measures chat completions only");
const floor = money?.handler ?? meteringFloor("http://upstream", true);
const gateway = (req: Request) => route(req);

async function measure(handler: (r: Request) => Promise<Response>): Promise<number> {
  let left = requests;
  const c0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) {
        const res = await handler(new Request(`http://gateway${api.path}`, { method: "POST", headers, body }));
        if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
        await res.text();
      }
    }),
  );
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / requests;
}

globalThis.fetch = stubFetch as typeof fetch;
if (process.argv.includes("--objects")) {
  // After the warm-up rounds (the JIT's own objects settle), objects per request by type.
  const request = () => new Request(`http://gateway${api.path}`, { method: "POST", headers, body });
  await measure(floor);
  await measure(gateway);
  // Fewer streams than whole answers: a collection during the count would hide what it freed.
  const n = streaming ? 100 : 600;
  const counted = [await objectsPerRequest(floor, request, n), await objectsPerRequest(gateway, request, n)];
  console.error(objectsTable(counted[0]!, counted[1]!, ["floor", "tollgate"]));
  await srv.stop();
  rt.deps.store.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
const sides = { floor: [] as number[], tollgate: [] as number[] };
const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
if (only !== "tollgate") await measure(floor);
if (only !== "floor") await measure(gateway);
for (let i = 0; i < rounds; i++) {
  for (const side of i % 2 ? (["tollgate", "floor"] as const) : (["floor", "tollgate"] as const)) {
    sides[side].push(only && only !== side ? 0 : await measure(side === "floor" ? floor : gateway));
  }
  console.error(`round ${i + 1}: floor ${sides.floor.at(-1)!.toFixed(1)} µs, tollgate ${sides.tollgate.at(-1)!.toFixed(1)} µs`);
}
globalThis.fetch = realFetch;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const own = median(sides.tollgate.map((t, i) => t - sides.floor[i]!));
console.error(`median CPU per request: floor ${median(sides.floor).toFixed(1)} µs, tollgate ${median(sides.tollgate).toFixed(1)} µs; Tollgate's own work ${own.toFixed(1)} µs`);
// For bench/run.ts, which reads the last line.
console.error(`HOTPATH ${JSON.stringify({ floor: median(sides.floor), tollgate: median(sides.tollgate), own, rounds, requests, api: api.id })}`);
await srv.stop();
money?.close();
rt.deps.store.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
