import { readdirSync, readFileSync } from "node:fs";

/**
 * Linux's SCHED_BATCH for the gateway's threads (`cpu_scheduling`): "auto" (the default) for Bun's
 * HTTP client thread while the JavaScript thread is saturated, "batch" for every thread always.
 *
 * Every upstream call hands the request to Bun's HTTP client thread. Under the normal policy a
 * thread woken on the same core preempts the one running, so the JavaScript thread and the HTTP
 * client thread ping-pong: one wake-up, and a pair of context switches, for nearly every request.
 * SCHED_BATCH turns off that wake-up preemption for the thread that has it, so a wake-up carries
 * many requests, but a woken thread now waits for the running one: less CPU per request, more
 * latency when the core has time to spare. "auto" therefore applies it only to the HTTP client
 * thread (the JavaScript thread still preempts it) and only while the JavaScript thread runs or
 * waits to run nearly all the time (AutoScheduling). Nice values, priorities and other processes
 * are untouched; an unprivileged process may choose these policies (sched(7)). Figures:
 * docs/benchmarks.md.
 */

/** Bun's name for its HTTP client thread (/proc/self/task/N/comm). */
const HTTP_CLIENT_THREAD = "HTTP Client";

/**
 * `batch`: every thread of `pid` under SCHED_BATCH (util-linux's `chrt --all-tasks`; threads
 * started later inherit it from the thread that creates them). Resolves to why not, or null.
 */
export function batchScheduling(pid: number = process.pid): Promise<string | null> {
  return chrt(["--batch", "--all-tasks", "--pid", "0", String(pid)]);
}

/** One thread's policy: SCHED_BATCH or back to SCHED_OTHER. Resolves to why not, or null. */
export function threadPolicy(tid: number, policy: "batch" | "normal"): Promise<string | null> {
  return chrt([policy === "batch" ? "--batch" : "--other", "--pid", "0", String(tid)]);
}

async function chrt(args: string[]): Promise<string | null> {
  if (process.platform !== "linux") return "only on Linux";
  const bin = Bun.which("chrt");
  if (!bin) return "chrt (util-linux) is not installed";
  try {
    // No pipes: reading chrt's output would cost the idle gateway about 1.3 MiB more resident
    // memory (the exit code says enough; the command can be rerun by hand to see why).
    const p = Bun.spawn([bin, ...args], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    const code = await p.exited;
    return code === 0 ? null : `chrt ${args.join(" ")} exited with ${code}`;
  } catch (e) {
    return `chrt could not run: ${(e as Error).message}`;
  }
}

/** Nanoseconds a thread has run on a CPU and waited on a run queue (/proc/…/schedstat). */
export interface SchedSample {
  at: number;
  runNs: number;
  waitNs: number;
}

/** The thread `tid` of this process (the JavaScript thread: the process id), or null where the kernel keeps no schedstat. */
export function schedSample(tid: number = process.pid): SchedSample | null {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ");
    return { at: performance.now(), runNs: Number(run), waitNs: Number(wait) };
  } catch {
    return null;
  }
}

/** Bun's HTTP client thread of this process (started at the first fetch), or null. */
export function httpClientThread(): number | null {
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      if (readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim() === HTTP_CLIENT_THREAD) return Number(tid);
    }
  } catch {
    // Not Linux, or /proc not mounted: nothing to schedule.
  }
  return null;
}

export interface AutoIo {
  sample(): SchedSample | null;
  httpThread(): number | null;
  apply(tid: number, policy: "batch" | "normal"): Promise<string | null>;
  /** A line for the operator: a switch, or why "auto" stopped ("warn"). */
  log(line: string, level?: "warn"): void;
}

/** Thresholds of "auto": the JavaScript thread's demand (run + run-queue wait) as a share of wall time. */
export const AUTO = { everyMs: 250, enter: 0.85, leave: 0.6, enterTicks: 2, leaveTicks: 1 } as const;

/**
 * "auto": every tick (AUTO.everyMs), the JavaScript thread's demand over the last tick. Two
 * ticks in a row at or above `enter` put the HTTP client thread under SCHED_BATCH, one below
 * `leave` puts it back: a saturated gateway (about 0.9 or more on one core, whichever policy) stops
 * ping-ponging within half a second, and one whose load falls (concurrency 1 measures about 0.5)
 * gets the lower latency back within a quarter to half a second (the tick that straddles the fall
 * still reads busy). Shorter ticks react sooner but see a load generator's own pauses as a fall
 * (a test's clients in one process, measured at 100 ms ticks). A failure to apply is said once
 * and ends "auto"; nothing else changes.
 */
export class AutoScheduling {
  policy: "normal" | "batch" = "normal";
  private last: SchedSample | null = null;
  private streak = 0;
  private busy = false;
  private stopped = false;

  constructor(private readonly io: AutoIo) {}

  /** One tick; resolves once a switch it started is applied (tests await it, the timer does not). */
  async tick(): Promise<void> {
    if (this.stopped || this.busy) return;
    const now = this.io.sample();
    if (!now) return this.stop("the kernel keeps no scheduler statistics (/proc/self/task/N/schedstat)");
    const before = this.last;
    this.last = now;
    if (!before || now.at <= before.at) return;
    const demand = (now.runNs - before.runNs + (now.waitNs - before.waitNs)) / 1e6 / (now.at - before.at);
    const entering = this.policy === "normal";
    this.streak = (entering ? demand >= AUTO.enter : demand < AUTO.leave) ? this.streak + 1 : 0;
    if (this.streak < (entering ? AUTO.enterTicks : AUTO.leaveTicks)) return;
    await this.switchTo(entering ? "batch" : "normal", demand);
  }

  private async switchTo(policy: "normal" | "batch", demand: number): Promise<void> {
    const tid = this.io.httpThread();
    // No upstream call yet, so no HTTP client thread: nothing to switch.
    if (tid === null) return;
    this.busy = true;
    try {
      const why = await this.io.apply(tid, policy);
      if (why) return this.stop(why);
      this.policy = policy;
      this.streak = 0;
      this.io.log(`cpu_scheduling "auto": the HTTP client thread now runs under ${policy === "batch" ? "SCHED_BATCH" : "the normal policy"} (JavaScript thread demand ${Math.round(demand * 100)} %)`);
    } finally {
      this.busy = false;
    }
  }

  private stop(why: string): void {
    this.stopped = true;
    this.io.log(`cpu_scheduling "auto" stopped (${why}); threads keep the ${this.policy === "batch" ? "policy they have" : "normal policy"}`, "warn");
  }

  get active(): boolean {
    return !this.stopped;
  }
}

/** Starts "auto" on this process: a tick every AUTO.everyMs (reading one /proc file) that never keeps the process alive. Returns its stop. */
export function startAutoScheduling(log: AutoIo["log"]): () => void {
  const auto = new AutoScheduling({ sample: () => schedSample(), httpThread: httpClientThread, apply: threadPolicy, log });
  const timer = setInterval(() => {
    if (!auto.active) return clearInterval(timer);
    void auto.tick();
  }, AUTO.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
