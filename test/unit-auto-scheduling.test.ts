import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { AUTO, AutoScheduling, httpClientThread, schedSample, threadPolicy, type SchedSample } from "../src/runtime/cpu-scheduling";

/**
 * cpu_scheduling "auto" (src/runtime/cpu-scheduling.ts): the decision from the JavaScript
 * thread's demand, with scripted samples; then the same decisions applied to a real thread.
 */
function scripted(demands: number[], o: { tid?: () => number | null; fail?: string } = {}) {
  let at = 0;
  let run = 0;
  let i = -1;
  const applied: ["batch" | "normal", number][] = [];
  const lines: string[] = [];
  const auto = new AutoScheduling({
    // The first sample is the baseline; each later one adds a tick of `demands[i]`.
    sample: (): SchedSample => {
      if (i >= 0) {
        at += AUTO.everyMs;
        run += demands[i]! * AUTO.everyMs * 1e6;
      }
      i++;
      return { at, runNs: run * 0.7, waitNs: run * 0.3 };
    },
    httpThread: o.tid ?? (() => 4242),
    apply: async (tid, policy) => {
      applied.push([policy, tid]);
      return o.fail ?? null;
    },
    log: (l, level) => lines.push(level ? `${level}: ${l}` : l),
  });
  const ticks = async (n: number) => {
    for (let k = 0; k < n; k++) await auto.tick();
  };
  return { auto, applied, lines, ticks };
}

const { enterTicks: IN, leaveTicks: OUT } = AUTO;
const times = (n: number, d: number) => Array.from({ length: n }, () => d);

describe("cpu_scheduling auto: when it switches", () => {
  test("enough saturated ticks in a row put the HTTP client thread under SCHED_BATCH, once", async () => {
    const s = scripted([...times(IN, 0.95), 0.99, 0.97]);
    // The first tick takes the baseline; each later one measures a tick.
    await s.ticks(IN);
    expect(s.applied).toEqual([]);
    await s.ticks(1);
    expect(s.applied).toEqual([["batch", 4242]]);
    expect(s.auto.policy).toBe("batch");
    await s.ticks(2);
    expect(s.applied.length).toBe(1);
    expect(s.lines).toEqual(['cpu_scheduling "auto": the HTTP client thread now runs under SCHED_BATCH (JavaScript thread demand 95 %)']);
  });

  test("a run of saturated ticks one short, or demand just under the threshold, changes nothing", async () => {
    const s = scripted([...times(IN - 1, 0.9), 0.5, ...times(IN - 1, 0.95), 0.84, ...times(IN * 2, 0.84), 0.6, ...times(IN - 1, 0.99)]);
    await s.ticks(1 + IN * 5);
    expect(s.applied).toEqual([]);
    expect(s.auto.policy).toBe("normal");
  });

  test("back to normal after enough ticks under 0.6; a busier tick between restarts the count", async () => {
    const s = scripted([...times(IN, 0.9), ...times(OUT - 1, 0.5), 0.7, ...times(OUT - 1, 0.5), 0.55]);
    await s.ticks(1 + IN);
    expect(s.auto.policy).toBe("batch");
    await s.ticks(OUT * 2 - 1);
    expect(s.applied).toEqual([["batch", 4242]]);
    await s.ticks(1);
    expect(s.applied).toEqual([["batch", 4242], ["normal", 4242]]);
    expect(s.auto.policy).toBe("normal");
    expect(s.lines[1]).toBe('cpu_scheduling "auto": the HTTP client thread now runs under the normal policy (JavaScript thread demand 55 %)');
  });

  test("one reading under 0.6 puts it back: a load that fell gets its latency back within half a second", async () => {
    const s = scripted([...times(IN, 0.95), 0.5]);
    await s.ticks(1 + IN);
    expect(s.auto.policy).toBe("batch");
    await s.ticks(1);
    expect(s.applied).toEqual([["batch", 4242], ["normal", 4242]]);
  });

  test("no HTTP client thread yet: it waits for one, then switches", async () => {
    let tid: number | null = null;
    const s = scripted(times(IN + 3, 0.9), { tid: () => tid });
    await s.ticks(IN + 2);
    expect(s.applied).toEqual([]);
    tid = 77;
    await s.ticks(1);
    expect(s.applied).toEqual([["batch", 77]]);
  });

  test("a policy it cannot apply is said once and ends auto", async () => {
    const s = scripted(times(IN * 3, 0.9), { fail: "chrt (util-linux) is not installed" });
    await s.ticks(IN * 3);
    expect(s.applied.length).toBe(1);
    expect(s.auto.active).toBe(false);
    expect(s.auto.policy).toBe("normal");
    expect(s.lines).toEqual(['warn: cpu_scheduling "auto" stopped (chrt (util-linux) is not installed); threads keep the normal policy']);
  });

  test("without scheduler statistics it stops at once and says why", async () => {
    const lines: string[] = [];
    const auto = new AutoScheduling({ sample: () => null, httpThread: () => 1, apply: async () => null, log: (l, level) => lines.push(`${level}: ${l}`) });
    await auto.tick();
    await auto.tick();
    expect(auto.active).toBe(false);
    expect(lines).toEqual(['warn: cpu_scheduling "auto" stopped (the kernel keeps no scheduler statistics (/proc/self/task/N/schedstat)); threads keep the normal policy']);
  });
});

/** The policy of a thread of this process (0 normal, 3 SCHED_BATCH: field 41 of stat). */
const policyOf = (tid: number) => Number(readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ")[38]);

describe.if(process.platform === "linux" && Bun.which("chrt") !== null)("cpu_scheduling auto: on this process's own threads", () => {
  test("the JavaScript thread's schedstat moves with the work it does", () => {
    const a = schedSample()!;
    const until = performance.now() + 30;
    while (performance.now() < until) Math.sqrt(Math.random());
    const b = schedSample()!;
    expect(b.runNs - a.runNs).toBeGreaterThan(10e6);
    expect(b.at - a.at).toBeGreaterThanOrEqual(30);
  });

  test("Bun's HTTP client thread is found and switched to SCHED_BATCH and back", async () => {
    // A fetch starts the thread (any answer will do).
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
    try {
      expect(await (await fetch(`http://127.0.0.1:${server.port}/`)).text()).toBe("ok");
    } finally {
      await server.stop(true);
    }
    const tid = httpClientThread();
    expect(tid).not.toBeNull();
    expect(tid).not.toBe(process.pid);
    expect(policyOf(tid!)).toBe(0);
    const lines: string[] = [];
    let at = 0;
    let demand = 0.95;
    const auto = new AutoScheduling({
      sample: () => ({ at: (at += AUTO.everyMs), runNs: at * demand * 1e6, waitNs: 0 }),
      httpThread: httpClientThread,
      apply: threadPolicy,
      log: (l) => lines.push(l),
    });
    for (let k = 0; k <= AUTO.enterTicks; k++) await auto.tick();
    expect(auto.policy).toBe("batch");
    expect(policyOf(tid!)).toBe(3);
    // The JavaScript thread itself is never touched.
    expect(policyOf(process.pid)).toBe(0);
    demand = 0;
    for (let k = 0; k <= AUTO.leaveTicks; k++) await auto.tick();
    expect(auto.policy).toBe("normal");
    expect(policyOf(tid!)).toBe(0);
    expect(auto.active).toBe(true);
    expect(lines.length).toBe(2);
  });
});
