/**
 * Quick A/B while optimising: bare proxy vs Tollgate run from source (or the binary with
 * --binary), interleaved, printing throughput ratios and CPU per request. Not part of the report.
 * Usage: bun bench/compare.ts [--rounds=3] [--seconds=3] [--stream] [--binary] [--cpu-prof] [--connections=50] [--json-floor] [--env=NAME=value ...]
 * --env sets an environment variable of the gateway only (repeatable), e.g. TOLLGATE_SETTLE_BATCH_MS=0
 * or BUN_JSC_logGC=1 (its log: bench/out/cmp-tollgate.log); --json-floor also measures the metering
 * floor, bench/json-proxy.ts, plain and with EXTRAS=1. Method: docs/benchmarks.md and BENCHMARKS.md.
 */
import { join, resolve } from "node:path";
import { wrk } from "./load";
import { cpuSeconds, envFlags, killAll } from "./proc";
import { BODY, jsonHeaders, prepareTollgate, provision, startBare, startJsonFloor, startTollgate, startUpstream, STREAM_BODY, type Target } from "./targets";
import { ensureTools } from "./tools";

const ROOT = resolve(import.meta.dir, "..");
const OUT = join(ROOT, "bench/out");
const arg = (n: string, d: string) => process.argv.find((a) => a.startsWith(`--${n}=`))?.split("=")[1] ?? d;
const rounds = Number(arg("rounds", "3"));
const seconds = Number(arg("seconds", "3"));
const stream = process.argv.includes("--stream");
const connections = Number(arg("connections", "50"));
const gatewayEnv = envFlags(process.argv, "env");
process.on("exit", killAll);

const tools = ensureTools(ROOT, OUT, console.log);
const up = await startUpstream(ROOT, tools.upstreamBin, "1", join(OUT, "cmp-upstream.log"));
const bare = await startBare(ROOT, up, "0", join(OUT, "cmp-bare.log"));
const floors = process.argv.includes("--json-floor")
  ? [await startJsonFloor(ROOT, up, "0", join(OUT, "cmp-json.log")), await startJsonFloor(ROOT, up, "0", join(OUT, "cmp-json-extras.log"), true)]
  : [];
const setup = prepareTollgate(join(OUT, "cmp-tollgate"), up);
const cmd = process.argv.includes("--binary")
  ? [join(ROOT, "dist/tollgate")]
  : ["bun", ...(process.argv.includes("--cpu-prof") ? ["--cpu-prof", `--cpu-prof-dir=${join(OUT, "prof")}`] : []), join(ROOT, "src/index.ts")];
const { target: tg, proc: p } = await startTollgate(cmd, setup, "0", join(OUT, "cmp-tollgate.log"), gatewayEnv);
tg.headers = jsonHeaders((await provision(tg.url)).key);

const run = async (t: Target) => {
  const c0 = cpuSeconds(t.pids());
  const r = await wrk(tools.wrk!, OUT, t, { body: stream ? STREAM_BODY : BODY, connections, seconds, cpu: "1" });
  return { rps: r.rps, cpu: ((cpuSeconds(t.pids()) - c0) * 1e6) / r.requests, errors: r.errors, p50: r.p50, p99: r.p99 };
};
await run(bare);
await run(tg);
for (const f of floors) await run(f);
const ratios: number[] = [];
for (let i = 0; i < rounds; i++) {
  const b = await run(bare);
  for (const floor of floors) {
    const f = await run(floor);
    console.log(`${floor.label} ${Math.round(f.rps)} rps ${f.cpu.toFixed(0)} µs/req | ratio to bare ${(f.rps / b.rps).toFixed(2)} cpu ratio ${(b.cpu / f.cpu).toFixed(2)}`);
  }
  const t = await run(tg);
  ratios.push(t.rps / b.rps);
  console.log(`bare ${Math.round(b.rps)} rps ${b.cpu.toFixed(0)} µs/req p50/p99 ${b.p50}/${b.p99} µs | tollgate ${Math.round(t.rps)} rps ${t.cpu.toFixed(0)} µs/req p50/p99 ${t.p50}/${t.p99} µs errors ${t.errors} | ratio ${(t.rps / b.rps).toFixed(2)} cpu ratio ${(b.cpu / t.cpu).toFixed(2)} added p50 ${t.p50 - b.p50} µs`);
}
ratios.sort((a, b) => a - b);
console.log(`median ratio ${ratios[ratios.length >> 1]!.toFixed(2)}`);
p.kill("SIGINT");
await p.exited;
await bare.stop();
for (const f of floors) await f.stop();
await up.stop();
process.exit(0);
