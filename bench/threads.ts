/**
 * CPU per request by thread (from /proc) for the bare proxy, the metering floor and Tollgate from source.
 * Method and figures: docs/benchmarks.md and BENCHMARKS.md.
 * Usage: bun bench/threads.ts [--stream] [--seconds=5] [--rounds=2]
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { wrk } from "./load";
import { killAll } from "./proc";
import { BODY, jsonHeaders, prepareTollgate, provision, startBare, startJsonFloor, startTollgate, startUpstream, STREAM_BODY, type Target } from "./targets";
import { ensureTools } from "./tools";

const ROOT = resolve(import.meta.dir, "..");
const OUT = join(ROOT, "bench/out");
const arg = (n: string, d: string) => process.argv.find((a) => a.startsWith(`--${n}=`))?.split("=")[1] ?? d;
const seconds = Number(arg("seconds", "5"));
const rounds = Number(arg("rounds", "2"));
const stream = process.argv.includes("--stream");
process.on("exit", killAll);

const TICK_US = 1e6 / 100; // USER_HZ

/** CPU ticks per thread name of one process (threads of the same name summed). */
function threadTicks(pid: number): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim();
      const f = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8").split(") ")[1]!.split(" ");
      m.set(comm, (m.get(comm) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return m;
}

const tools = ensureTools(ROOT, OUT, console.log);
const up = await startUpstream(ROOT, tools.upstreamBin, "1", join(OUT, "thr-upstream.log"));
const targets: Target[] = [await startBare(ROOT, up, "0", join(OUT, "thr-bare.log")), await startJsonFloor(ROOT, up, "0", join(OUT, "thr-floor.log"), true)];
const setup = prepareTollgate(join(OUT, "thr-tollgate"), up);
const { target: tg, proc: p } = await startTollgate(["bun", join(ROOT, "src/index.ts")], setup, "0", join(OUT, "thr-tollgate.log"));
tg.headers = jsonHeaders((await provision(tg.url)).key);
targets.push(tg);

const body = stream ? STREAM_BODY : BODY;
for (const t of targets) await wrk(tools.wrk!, OUT, t, { body, connections: 50, seconds: 2, cpu: "1" });
const sums = new Map<string, Map<string, number>>();
const served = new Map<string, number>();
for (let r = 0; r < rounds; r++) {
  for (const t of targets) {
    const pid = t.pids()[0]!;
    const a = threadTicks(pid);
    const res = await wrk(tools.wrk!, OUT, t, { body, connections: 50, seconds, cpu: "1" });
    const b = threadTicks(pid);
    const m = sums.get(t.label) ?? new Map<string, number>();
    for (const [k, v] of b) m.set(k, (m.get(k) ?? 0) + v - (a.get(k) ?? 0));
    sums.set(t.label, m);
    served.set(t.label, (served.get(t.label) ?? 0) + res.requests);
  }
}
console.log(`CPU µs per ${stream ? "streamed" : "non-streaming"} request by thread (${rounds} rounds of ${seconds} s):`);
for (const [label, m] of sums) {
  const n = served.get(label)!;
  const parts = [...m].filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${((v * TICK_US) / n).toFixed(1)}`);
  const total = [...m.values()].reduce((x, y) => x + y, 0);
  console.log(`  ${label.padEnd(40)} total ${((total * TICK_US) / n).toFixed(1)}: ${parts.join(", ")}`);
}
p.kill("SIGINT");
await p.exited;
for (const t of targets.slice(0, 2)) await t.stop();
await up.stop();
process.exit(0);
