/**
 * A/B while optimising: Tollgate at a base revision against the working tree, both run from
 * source, in interleaved rounds (A, B, B, A, ...) so that a noisy machine weighs on both alike.
 * Prints each side's median CPU per request and p50 and p99 latency, and the median of the paired
 * differences (at --connections=1 the p99 shows the event loop's stalls). A change
 * of a few microseconds needs many short rounds: the pairs, not the absolute figures, count.
 * Usage: bun bench/ab.ts [--base=HEAD] [--api=chat|responses|messages] [--rounds=10] [--seconds=2] [--stream] [--connections=50] [--env-a=NAME=value] [--env-b=NAME=value]
 * (--env-a / --env-b set an environment variable of one side only: a setting measured against the
 * same code. Each side's resident memory after the rounds is printed too.)
 */
import { execFileSync } from "node:child_process";
import { existsSync, rmSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { wrk } from "./load";
import { cpuSeconds, envFlags, killAll, rssMiB } from "./proc";
import { apiArg } from "./answers";
import { jsonHeaders, prepareTollgate, provision, startTollgate, startUpstream, type Target } from "./targets";
import { ensureTools } from "./tools";

const ROOT = resolve(import.meta.dir, "..");
const OUT = join(ROOT, "bench/out");
const arg = (n: string, d: string) => process.argv.find((a) => a.startsWith(`--${n}=`))?.split("=")[1] ?? d;
const base = arg("base", "HEAD");
const rounds = Number(arg("rounds", "10"));
const seconds = Number(arg("seconds", "2"));
const connections = Number(arg("connections", "50"));
const api = apiArg(process.argv);
const body = process.argv.includes("--stream") ? api.streamBody : api.body;
const envs = [envFlags(process.argv, "env-a"), envFlags(process.argv, "env-b")];
process.on("exit", killAll);

/** The base revision's tree, checked out beside bench/out, sharing the working tree's node_modules. */
function checkout(rev: string): string {
  const dir = join(OUT, "ab-base");
  if (existsSync(dir)) execFileSync("git", ["-C", ROOT, "worktree", "remove", "--force", dir]);
  rmSync(dir, { recursive: true, force: true });
  execFileSync("git", ["-C", ROOT, "worktree", "add", "--detach", dir, rev], { stdio: "ignore" });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

const tools = ensureTools(ROOT, OUT, console.log);
const up = await startUpstream(ROOT, tools.upstreamBin, "1", join(OUT, "ab-upstream.log"));
const sides: { name: string; t: Target; stop: () => Promise<void>; cpu: number[]; p50: number[]; p99: number[] }[] = [];
for (const [name, dir] of [[`A ${base}`, checkout(base)], ["B working tree", ROOT]] as const) {
  const setup = prepareTollgate(join(OUT, `ab-${sides.length}`), up);
  const { target, proc } = await startTollgate(["bun", join(dir, "src/index.ts")], setup, "0", join(OUT, `ab-${sides.length}.log`), envs[sides.length]);
  target.headers = jsonHeaders((await provision(target.url)).key);
  sides.push({ name, t: target, stop: async () => void (proc.kill("SIGINT"), await proc.exited), cpu: [], p50: [], p99: [] });
}
const run = async (t: Target) => {
  const c0 = cpuSeconds(t.pids());
  const r = await wrk(tools.wrk!, OUT, t, { body, connections, seconds, cpu: "1", api });
  if (r.errors) throw new Error(`${r.errors} errors against ${t.label}`);
  return { cpu: ((cpuSeconds(t.pids()) - c0) * 1e6) / r.requests, p50: r.p50, p99: r.p99 };
};
for (const s of sides) await run(s.t); // warm-up
for (let i = 0; i < rounds; i++) {
  const order = i % 2 === 0 ? sides : [...sides].reverse();
  for (const s of order) {
    const r = await run(s.t);
    s.cpu.push(r.cpu);
    s.p50.push(r.p50);
    s.p99.push(r.p99);
  }
  console.log(`round ${i + 1}: ${sides.map((s) => `${s.name} ${s.cpu.at(-1)!.toFixed(1)} µs/req, p50 ${s.p50.at(-1)} p99 ${s.p99.at(-1)} µs`).join(" | ")}`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const [a, b] = sides as [(typeof sides)[0], (typeof sides)[0]];
console.log(`median CPU µs/req: ${a.name} ${median(a.cpu).toFixed(1)}, ${b.name} ${median(b.cpu).toFixed(1)}; median paired B − A ${median(b.cpu.map((x, i) => x - a.cpu[i]!)).toFixed(1)} µs`);
console.log(`median p50 µs: ${a.name} ${median(a.p50)}, ${b.name} ${median(b.p50)}; median paired B − A ${median(b.p50.map((x, i) => x - a.p50[i]!))} µs`);
console.log(`median p99 µs: ${a.name} ${median(a.p99)}, ${b.name} ${median(b.p99)}; median paired B / A ${median(b.p99.map((x, i) => x / a.p99[i]!)).toFixed(2)}×`);
console.log(`RSS after the rounds, MiB: ${sides.map((s) => `${s.name} ${rssMiB(s.t.pids()).toFixed(1)}`).join(", ")}`);
for (const s of sides) await s.stop();
execFileSync("git", ["-C", ROOT, "worktree", "remove", "--force", join(OUT, "ab-base")]);
await up.stop();
process.exit(0);
