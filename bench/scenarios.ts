/** One measurement each: throughput with CPU and memory accounting, latency, soak, cold start. */
import type { Subprocess } from "bun";
import { APIS, type BenchApi } from "./answers";
import { ttftProbe, wrk, type TtftResult, type WrkResult } from "./load";
import { busy, cpuSeconds, cpuSnapshot, rssMiB, spawnPinned, stop, withRssPeak } from "./proc";
import { BODY, CHAT_PATH, STREAM_BODY, type Target } from "./targets";

export interface Settings {
  quick: boolean;
  rounds: number;
  /** Seconds of each throughput run (50 connections). */
  throughputSeconds: number;
  /** Seconds of each latency run (concurrency 1, fixed rate). */
  latencySeconds: number;
  ttftSamples: number;
  soakSeconds: number;
  coldStarts: number;
  serverCpu: string;
  loadCpu: string;
  connections: number;
  rate: { connections: number; delayMs: number };
}

export interface Throughput extends WrkResult {
  /** CPU time of the target per request (user + system), microseconds. */
  cpuUs: number;
  peakRssMiB: number;
  /** Busy fraction of each CPU during the run (the load CPU must not be saturated). */
  cpuBusy: Record<string, number>;
  /** Busy fraction of the load CPU (wrk and the upstream): near 1, the load side capped the run. */
  loadBusy: number;
}

export interface Env {
  wrk: string;
  outDir: string;
  s: Settings;
}

export async function throughput(env: Env, t: Target, stream: boolean, api: BenchApi = APIS.chat): Promise<Throughput> {
  const pids = t.pids();
  const cpu0 = cpuSeconds(pids);
  const snap = cpuSnapshot();
  const { value, peakMiB } = await withRssPeak(() => pids, 250, () =>
    wrk(env.wrk, env.outDir, t, { body: stream ? api.streamBody : api.body, connections: env.s.connections, seconds: env.s.throughputSeconds, cpu: env.s.loadCpu, api }),
  );
  const cpuBusy = busy(snap, cpuSnapshot());
  const cpuUs = value.requests > 0 ? ((cpuSeconds(pids) - cpu0) * 1e6) / value.requests : NaN;
  return { ...value, cpuUs, peakRssMiB: peakMiB, cpuBusy, loadBusy: cpuBusy[`cpu${env.s.loadCpu}`] ?? NaN };
}

export const latencyC1 = (env: Env, t: Target): Promise<WrkResult> =>
  wrk(env.wrk, env.outDir, t, { body: BODY, connections: 1, seconds: env.s.latencySeconds, cpu: env.s.loadCpu });

export const latencyAtRate = (env: Env, t: Target): Promise<WrkResult> =>
  wrk(env.wrk, env.outDir, t, { body: BODY, connections: env.s.rate.connections, seconds: env.s.latencySeconds, delayMs: env.s.rate.delayMs, cpu: env.s.loadCpu });

export const ttft = (env: Env, t: Target): Promise<TtftResult> => ttftProbe(t, STREAM_BODY, env.s.ttftSamples);

export interface Soak {
  seconds: number;
  /** [seconds since start, RSS MiB] */
  samples: [number, number][];
  growthMiBPerMin: number;
  requests: number;
  rps: number;
  errors: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
}

/**
 * Streaming at a steady moderate rate for `seconds`, sampling RSS. Growth is the least-squares
 * slope over the samples after the first fifth (warm-up: JIT, heap sizing, SQLite cache).
 */
export async function soak(env: Env, t: Target): Promise<Soak> {
  const pids = t.pids();
  const rssBeforeMiB = rssMiB(pids);
  const every = Math.max(1, Math.round(env.s.soakSeconds / 60)) * 1000;
  const samples: [number, number][] = [];
  const t0 = performance.now();
  const timer = setInterval(() => samples.push([(performance.now() - t0) / 1000, rssMiB(pids)]), every);
  let r: WrkResult;
  try {
    r = await wrk(env.wrk, env.outDir, t, { body: STREAM_BODY, connections: 10, seconds: env.s.soakSeconds, delayMs: 10, cpu: env.s.loadCpu });
  } finally {
    clearInterval(timer);
  }
  const steady = samples.filter(([s]) => s >= env.s.soakSeconds / 5);
  return { seconds: env.s.soakSeconds, samples, growthMiBPerMin: slope(steady) * 60, requests: r.requests, rps: r.rps, errors: r.errors, rssBeforeMiB, rssAfterMiB: rssMiB(pids) };
}

function slope(pts: [number, number][]): number {
  if (pts.length < 2) return NaN;
  const n = pts.length;
  const mx = pts.reduce((a, [x]) => a + x, 0) / n;
  const my = pts.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of pts) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * Milliseconds from spawning `cmd` to its first proxied 200 on POST /v1/chat/completions. The
 * client retries a refused connection every millisecond.
 */
export async function coldStart(cmd: string[], spawnEnv: Record<string, string>, port: number, headers: Record<string, string>, cpu: string, log: string): Promise<number> {
  const url = `http://127.0.0.1:${port}${CHAT_PATH}`;
  const t0 = performance.now();
  const p: Subprocess = spawnPinned(cmd, { cpu, env: { ...spawnEnv, PORT: String(port) }, log });
  try {
    for (;;) {
      if (p.exitCode !== null) throw new Error(`${cmd.join(" ")} exited with ${p.exitCode} during cold start`);
      try {
        const res = await fetch(url, { method: "POST", headers, body: BODY });
        await res.arrayBuffer();
        if (res.status === 200) return performance.now() - t0;
        throw new Error(`cold start: first answer was ${res.status}`);
      } catch (e) {
        if ((e as Error).message.startsWith("cold start")) throw e;
        if (performance.now() - t0 > 20_000) throw new Error(`${cmd.join(" ")} did not answer within 20 s`);
        await Bun.sleep(1);
      }
    }
  } finally {
    await stop(p);
  }
}

/**
 * Evicts one file's pages from the page cache (coreutils: sync, then dd's nocache), so that the
 * next start reads the binary from disk, as after a reboot. A binary just written (built, copied)
 * sits in the cache in larger pieces, and its start maps about 5 MiB more of it (same bytes).
 */
export function dropFromPageCache(file: string): boolean {
  const ok = (cmd: string[]) => Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
  return ok(["sync", file]) && ok(["dd", `if=${file}`, "iflag=nocache", "count=0", "status=none"]);
}
