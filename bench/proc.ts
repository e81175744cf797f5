/** Child processes of the harness: pinned spawning, readiness, /proc accounting, cleanup. */
import { readdirSync, readFileSync } from "node:fs";
import type { Results } from "./report";
import type { Subprocess } from "bun";

export const HAS_TASKSET = Bun.which("taskset") !== null;
/** Clock ticks per second of /proc/<pid>/stat (USER_HZ is 100 on Linux). */
const HZ = 100;

const children = new Set<Subprocess>();

/**
 * Runs `cmd` pinned to `cpu` (taskset execs it, so the pid is the program's own). Stdout is a pipe
 * for waitForLine, or dropped (`quietStdout`) for a program that writes much there and is not read.
 */
export function spawnPinned(cmd: string[], opts: { cpu: string; env?: Record<string, string>; cwd?: string; log?: string; quietStdout?: boolean }): Subprocess {
  const argv = HAS_TASKSET ? ["taskset", "-c", opts.cpu, ...cmd] : cmd;
  const p = Bun.spawn(argv, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdin: "ignore",
    stdout: opts.quietStdout ? "ignore" : "pipe",
    stderr: opts.log ? Bun.file(opts.log) : "ignore",
  });
  children.add(p);
  void p.exited.then(() => children.delete(p));
  return p;
}

/** Waits until a line of stdout matches; returns the match. Stdout keeps being drained after. */
export async function waitForLine(p: Subprocess, re: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let buf = "";
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${re} (output so far: ${buf.slice(-400)})`);
    const r = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
    if (r === null) continue;
    if (r.done) throw new Error(`process exited (code ${p.exitCode}) before ${re}; output: ${buf.slice(-400)}`);
    buf += dec.decode(r.value, { stream: true });
    const m = buf.match(re);
    if (m) {
      void (async () => {
        while (!(await reader.read()).done);
      })().catch(() => {});
      return m;
    }
  }
}

/** Polls until `url` answers (any status); for programs that print nothing useful. */
export async function waitForHttp(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await fetch(url);
      return;
    } catch {
      await Bun.sleep(20);
    }
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

export async function stop(p: Subprocess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const tree = processTree(p.pid);
  p.kill(signal);
  const exited = await Promise.race([p.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
  if (!exited) {
    p.kill("SIGKILL");
    await p.exited;
  }
  // Children that did not go with it (nginx workers of a master that was killed).
  for (const pid of tree.slice(1)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
}

/** Kills whatever the harness started and is still running (exit, Ctrl-C, a thrown error). */
export function killAll(): void {
  for (const p of children) {
    // The whole tree: nginx's workers would outlive a killed master.
    for (const pid of processTree(p.pid).reverse()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
}

/** The pid and all its descendants (nginx workers, helper processes). */
export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(d), Number(fields[1]));
    } catch {}
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parent) if (pp === out[i]) out.push(pid);
  return out;
}

/** CPU seconds (user + system) used so far by the processes. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return ticks / HZ;
}

/** Resident set size in MiB, summed over the processes. */
export function rssMiB(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) kb += Number(m[1]);
    } catch {}
  }
  return kb / 1024;
}

/** Busy fraction of each CPU between two snapshots of /proc/stat. */
export function cpuSnapshot(): Map<string, { total: number; idle: number }> {
  const out = new Map<string, { total: number; idle: number }>();
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^(cpu\d+) (.*)$/.exec(line);
    if (!m) continue;
    const v = m[2]!.trim().split(/\s+/).map(Number);
    out.set(m[1]!, { total: v.reduce((a, b) => a + b, 0), idle: v[3]! + (v[4] ?? 0) });
  }
  return out;
}

export function busy(a: ReturnType<typeof cpuSnapshot>, b: ReturnType<typeof cpuSnapshot>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [cpu, x] of a) {
    const y = b.get(cpu);
    if (!y || y.total === x.total) continue;
    out[cpu] = 1 - (y.idle - x.idle) / (y.total - x.total);
  }
  return out;
}

/** Samples RSS every `everyMs` while `work` runs; returns its result and the peak. */
export async function withRssPeak<T>(pids: () => number[], everyMs: number, work: () => Promise<T>): Promise<{ value: T; peakMiB: number }> {
  let peak = rssMiB(pids());
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB(pids()));
  }, everyMs);
  try {
    const value = await work();
    peak = Math.max(peak, rssMiB(pids()));
    return { value, peakMiB: peak };
  } finally {
    clearInterval(timer);
  }
}

/** The NAME=value pairs of the repeated command-line flag `--<flag>=NAME=value`, as an environment. */
export function envFlags(argv: readonly string[], flag: string): Record<string, string> {
  const prefix = `--${flag}=`;
  return Object.fromEntries(
    argv.filter((a) => a.startsWith(prefix)).map((a) => {
      const kv = a.slice(prefix.length);
      const eq = kv.indexOf("=");
      if (eq <= 0) throw new Error(`${prefix} wants NAME=value: ${a}`);
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    }),
  );
}

/** The machine a run measured, as the report states it. */
export function machine(): Results["machine"] {
  const cpuinfo = Bun.spawnSync(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; grep -c ^processor /proc/cpuinfo; uname -sr; grep MemTotal /proc/meminfo; cat /proc/loadavg"]).stdout.toString().trim().split("\n");
  return { cpu: cpuinfo[0]?.trim() ?? "?", cores: Number(cpuinfo[1]), kernel: cpuinfo[2] ?? "?", memory: cpuinfo[3]?.replace(/\s+/g, " ") ?? "?", loadavg: cpuinfo[4] ?? "?" };
}
