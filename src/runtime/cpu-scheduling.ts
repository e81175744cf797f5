/**
 * Linux's SCHED_BATCH for every thread of the gateway (`cpu_scheduling = "batch"`; not the default).
 *
 * Every upstream call hands the request to Bun's HTTP client thread. Under the normal policy a
 * thread woken on the same core preempts the one running, so the JavaScript thread and the HTTP
 * client thread ping-pong: one wake-up, and a pair of context switches, for nearly every request.
 * SCHED_BATCH turns off that wake-up preemption between the gateway's own threads (each still runs
 * when the other blocks or its slice ends), so a wake-up carries many requests, but a woken thread
 * now waits for the running one. Less CPU per request, more latency: figures in docs/benchmarks.md.
 * Hence opt-in: for a gateway short of CPU, not one short of latency. Nice values, priorities and
 * other processes are untouched; an unprivileged process may choose this policy (sched(7)).
 *
 * `serve` applies it at the first chat request (an idle gateway does not need it). util-linux's
 * `chrt --all-tasks` sets it on the threads that exist; threads started later inherit it from
 * the thread that creates them. Resolves to why it was not applied, or null.
 */
export async function batchScheduling(pid: number = process.pid): Promise<string | null> {
  if (process.platform !== "linux") return "only on Linux";
  const chrt = Bun.which("chrt");
  if (!chrt) return "chrt (util-linux) is not installed";
  try {
    // No pipes: reading chrt's output would cost the idle gateway about 1.3 MiB more resident
    // memory (the exit code says enough; the command can be rerun by hand to see why).
    const p = Bun.spawn([chrt, "--batch", "--all-tasks", "--pid", "0", String(pid)], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    const code = await p.exited;
    return code === 0 ? null : `chrt --batch --all-tasks --pid 0 ${pid} exited with ${code}`;
  } catch (e) {
    return `chrt could not run: ${(e as Error).message}`;
  }
}
