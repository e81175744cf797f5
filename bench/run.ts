/**
 * Benchmark harness: `bun run bench` (full, writes BENCHMARKS.md and bench/results.svg) or
 * `bun run bench:quick` (smoke, writes bench/out/). Method: docs/benchmarks.md and BENCHMARKS.md.
 */
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { computeSummary, renderMarkdown, type Results, type RoundData } from "./report";
import { renderSvg } from "./report-svg";
import { HAS_TASKSET, killAll, machine, rssMiB } from "./proc";
import { coldStart, dropFromPageCache, latencyAtRate, latencyC1, soak, throughput, ttft, type Env, type Settings } from "./scenarios";
import {
  accountBalance, checkUpstream, directTarget, freePort, prepareTollgate, jsonHeaders, provision, smokeCheck, startBare, startJsonFloor, startMoneyFloor, startNginx, startPortkey, startTollgate, startUpstream,
  type Target,
} from "./targets";
import { APIS } from "./answers";
import { hotPath } from "./in-process";
import { orderFileReport } from "./order-file";
import { API_TARGETS, OTHER_APIS, type ApiResults, type ApiRound, type ApiTarget } from "./report-apis";
import { profileTollgate, type ProfileShare } from "./profile";
import { ensureTools } from "./tools";

const ROOT = resolve(import.meta.dir, "..");
const OUT = join(ROOT, "bench/out");
const args = new Set(process.argv.slice(2));
const quick = args.has("--quick");
const soakArg = process.argv.find((a) => a.startsWith("--soak-seconds="));

const settings: Settings = quick
  ? { quick, rounds: 3, throughputSeconds: 1, latencySeconds: 1, ttftSamples: 40, soakSeconds: 6, coldStarts: 3, serverCpu: "0", loadCpu: "1", connections: 50, rate: { connections: 10, delayMs: 10 } }
  : { quick, rounds: 5, throughputSeconds: 4, latencySeconds: 3, ttftSamples: 200, soakSeconds: 600, coldStarts: 9, serverCpu: "0", loadCpu: "1", connections: 50, rate: { connections: 10, delayMs: 10 } };
if (soakArg) settings.soakSeconds = Number(soakArg.split("=")[1]);

const log = (s: string) => console.log(`[bench] ${s}`);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}
process.on("exit", killAll);

async function main() {
  mkdirSync(OUT, { recursive: true });
  // The harness itself (the TTFT probe, cold-start client) runs on the load CPU.
  if (HAS_TASKSET) Bun.spawnSync(["taskset", "-a", "-p", "-c", settings.loadCpu, String(process.pid)], { stdout: "ignore", stderr: "ignore" });
  const tools = ensureTools(ROOT, OUT, log);
  for (const n of tools.notes) log(`note: ${n}`);
  if (!tools.wrk) throw new Error("wrk is required (apt-get install wrk)");
  if (!HAS_TASKSET) tools.notes.push("taskset is missing: processes are not pinned, figures are noisier");

  log("building the Tollgate binary (bun run build) ...");
  const build = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`bun run build failed: ${build.stderr.toString().slice(-500)}`);
  const binary = join(ROOT, "dist/tollgate");

  const { serverCpu: S, loadCpu: L } = settings;
  // A stale layout profile only slows the start down, so it is reported, not failed on; measured
  // before any target starts, it takes no CPU from a measurement.
  try {
    log(await orderFileReport({ root: ROOT, binary, dir: join(OUT, "order"), serverCpu: S, upstreamCpu: L }));
  } catch (e) {
    log(`order file: could not be checked: ${(e as Error).message}`);
  }
  const logFile = (n: string) => join(OUT, `${n}.log`);
  const up = await startUpstream(ROOT, tools.upstreamBin, L, logFile("upstream"));
  await checkUpstream(up);
  log(`upstream (${tools.upstreamBin ? "C" : "Bun"}) on ${up.url}, CPU ${L}`);

  const targets: Target[] = [directTarget(up)];
  const rssStart: Record<string, number> = {};
  const remember = async (t: Target) => {
    await Bun.sleep(300);
    rssStart[t.id] = rssMiB(t.pids());
    targets.push(t);
    log(`${t.label} on ${t.url}, CPU ${S}`);
  };
  await remember(await startBare(ROOT, up, S, logFile("bare")));
  // The floors: what any metering gateway in Bun must do at least (bench/json-proxy.ts).
  for (const extras of [false, true]) {
    try {
      await remember(await startJsonFloor(ROOT, up, S, logFile(extras ? "floor-extras" : "floor"), extras));
    } catch (e) {
      tools.notes.push(`the metering floor could not start: ${(e as Error).message}`);
    }
  }
  try {
    await remember(await startMoneyFloor(ROOT, join(OUT, "money-floor"), up, S, logFile("floor-money")));
  } catch (e) {
    tools.notes.push(`the money floor could not start: ${(e as Error).message}`);
  }

  const setup = prepareTollgate(join(OUT, "tollgate"), up);
  const first = await startTollgate(binary, setup, S, logFile("tollgate"));
  const { key, accountId } = await provision(first.target.url);
  // Restarted on its database, as a gateway normally starts: "after start" is then before any request.
  await first.target.stop();
  const tg = await startTollgate(binary, setup, S, logFile("tollgate"));
  tg.target.headers = jsonHeaders(key);
  await remember(tg.target);
  if (tools.nginx) {
    try {
      await remember(await startNginx(tools.nginx, join(OUT, "nginx"), up, S, logFile("nginx")));
    } catch (e) {
      tools.notes.push(`nginx could not start: ${(e as Error).message}`);
    }
  }
  if (tools.portkey) {
    try {
      await remember(await startPortkey(tools.portkey, up, S, logFile("portkey")));
    } catch (e) {
      tools.notes.push(`Portkey could not start under Bun: ${(e as Error).message}`);
    }
  }

  const facts: Record<string, Record<string, string>> = {};
  for (const t of [...targets]) {
    try {
      facts[t.id] = await smokeCheck(t);
    } catch (e) {
      // The references (floors, nginx, Portkey) are optional; the bare proxy and Tollgate are not.
      if (t.id === "direct" || t.id === "bare" || t.id === "tollgate") throw e;
      tools.notes.push(`${t.label} left out: ${(e as Error).message}`);
      targets.splice(targets.indexOf(t), 1);
      await t.stop();
    }
  }
  // Responses and Messages on the targets that have a floor for them (bench/report-apis.ts).
  const apiTargets = targets.filter((t) => (API_TARGETS as readonly string[]).includes(t.id));
  for (const id of OTHER_APIS) for (const t of apiTargets) await smokeCheck(t, APIS[id]);
  const balanceBefore = await accountBalance(tg.target.url, accountId);

  const env: Env = { wrk: tools.wrk, outDir: OUT, s: settings };
  log(`warm-up ${elapsed()}`);
  for (const t of targets) {
    await throughput(env, t, false);
    await throughput(env, t, true);
  }
  for (const id of OTHER_APIS) for (const t of apiTargets) for (const st of [false, true]) await throughput(env, t, st, APIS[id]);
  await Bun.sleep(1000);
  const rssIdle: Record<string, number> = {};
  for (const t of targets) rssIdle[t.id] = rssMiB(t.pids());

  const rounds: RoundData[] = [];
  const apis: ApiResults = Object.fromEntries(OTHER_APIS.map((id) => [id, { rounds: [] }]));
  for (let r = 0; r < settings.rounds; r++) {
    const round: RoundData = {};
    // Rotate the order so that no target always runs first (or right after the same neighbour).
    const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
    for (const t of order) {
      // One failed measurement (a probe that timed out on a loaded machine) is retried once,
      // then left out of this round's medians with a note, rather than ending the run.
      const step = async <T>(name: string, f: () => Promise<T>): Promise<T | undefined> => {
        if (process.env.BENCH_VERBOSE) log(`round ${r + 1}: ${t.id} ${name}`);
        for (let attempt = 1; ; attempt++) {
          try {
            return await f();
          } catch (e) {
            log(`round ${r + 1}: ${t.label} ${name} failed (attempt ${attempt}): ${(e as Error).message}`);
            if (attempt === 2) {
              tools.notes.push(`round ${r + 1}: ${t.label} ${name} could not be measured: ${(e as Error).message}`);
              return undefined;
            }
          }
        }
      };
      round[t.id] = {
        ns: await step("non-streaming", () => throughput(env, t, false)),
        st: await step("streaming", () => throughput(env, t, true)),
        c1: await step("c=1", () => latencyC1(env, t)),
        rate: await step("fixed rate", () => latencyAtRate(env, t)),
        ttft: await step("ttft", () => ttft(env, t)),
      };
    }
    rounds.push(round);
    await apiRound(env, apiTargets, r, apis, tools.notes);
    log(`round ${r + 1}/${settings.rounds} done ${elapsed()}: ${order.map((t) => `${t.id} ${Math.round(round[t.id]?.ns?.rps ?? NaN)}/${Math.round(round[t.id]?.st?.rps ?? NaN)} rps`).join(", ")}`);
  }

  log(`CPU profile of Tollgate run from source ${elapsed()}`);
  let profile: ProfileShare[] = [];
  try {
    profile = await profileTollgate({ root: ROOT, outDir: OUT, wrk: tools.wrk, setup, serverCpu: S, loadCpu: L, seconds: settings.quick ? 2 : 8 });
  } catch (e) {
    tools.notes.push(`the CPU profile could not be taken: ${(e as Error).message}`);
  }

  log(`in-process measure of the gateway's own work ${elapsed()}`);
  const inProcess = { ns: await hotPath(ROOT, OUT, S, settings.quick, false, tools.notes), st: await hotPath(ROOT, OUT, S, settings.quick, true, tools.notes) };
  for (const id of OTHER_APIS) apis[id]!.inProcess = { ns: await hotPath(ROOT, OUT, S, settings.quick, false, tools.notes, id), st: await hotPath(ROOT, OUT, S, settings.quick, true, tools.notes, id) };
  const moneyInProcess = { ns: await hotPath(ROOT, OUT, S, settings.quick, false, tools.notes, "chat", true), st: await hotPath(ROOT, OUT, S, settings.quick, true, tools.notes, "chat", true) };

  log(`streaming soak of Tollgate for ${settings.soakSeconds}s ...`);
  let soakResult: Results["soak"];
  try {
    soakResult = await soak(env, tg.target);
  } catch (e) {
    tools.notes.push(`the soak could not run: ${(e as Error).message}`);
    soakResult = { seconds: settings.soakSeconds, samples: [], growthMiBPerMin: NaN, requests: 0, rps: NaN, errors: NaN, rssBeforeMiB: NaN, rssAfterMiB: NaN };
  }
  await Bun.sleep(1000);
  const balanceAfter = await accountBalance(tg.target.url, accountId);

  for (const t of targets.slice(1).reverse()) await t.stop();
  log(`cold starts ${elapsed()}`);
  const cold: Results["cold"] = { tollgate: [], bare: [] };
  const port = await freePort();
  const attempt = async (name: string, into: number[], f: () => Promise<number>) => {
    try {
      into.push(await f());
    } catch (e) {
      tools.notes.push(`a cold start of ${name} failed: ${(e as Error).message}`);
    }
  };
  for (let i = 0; i < settings.coldStarts; i++) {
    await attempt("Tollgate", cold.tollgate, () => coldStart([binary, "serve", "--config", setup.configPath], setup.env, port, tg.target.headers, S, logFile("tollgate-cold")));
    await attempt("the bare proxy", cold.bare, () => coldStart(["bun", join(ROOT, "bench/bare-proxy.ts")], { UPSTREAM: up.url }, port, targets[1]!.headers, S, logFile("bare-cold")));
  }
  // RSS after start once more, with the binary read from disk instead of just built.
  const rssFromDisk: number[] = [];
  for (let i = 0; i < 3 && dropFromPageCache(binary); i++) {
    const t = await startTollgate(binary, setup, S, logFile("tollgate-disk"));
    await Bun.sleep(300);
    rssFromDisk.push(rssMiB(t.target.pids()));
    await t.target.stop();
  }
  await up.stop();

  const results: Results = {
    date: new Date().toISOString(),
    settings,
    machine: machine(),
    versions: tools.versions,
    notes: tools.notes,
    upstream: tools.upstreamBin ? "C (bench/upstream.c)" : "Bun (bench/upstream.ts)",
    targets: targets.map((t) => ({ id: t.id, label: t.label })),
    facts,
    rssStart,
    rssFromDisk,
    rssIdle,
    rounds,
    soak: soakResult,
    cold,
    profile,
    inProcess,
    moneyInProcess,
    apis,
    binaryBytes: statSync(binary).size,
    charged: { requestsBilledMicros: balanceBefore - balanceAfter },
    durationSeconds: (Date.now() - started) / 1000,
  };
  const summary = computeSummary(results);
  const dest = quick ? { md: join(OUT, "BENCHMARKS.quick.md"), svg: join(OUT, "results.quick.svg"), svgRef: "results.quick.svg" } : { md: join(ROOT, "BENCHMARKS.md"), svg: join(ROOT, "bench/results.svg"), svgRef: "bench/results.svg" };
  writeFileSync(join(OUT, quick ? "results.quick.json" : "results.json"), JSON.stringify({ results, summary }, null, 2));
  writeFileSync(dest.svg, renderSvg(results, summary));
  writeFileSync(dest.md, renderMarkdown(results, summary, dest.svgRef));
  console.log(`\n${summary.console}\n`);
  log(`wrote ${dest.md} and ${dest.svg} in ${elapsed()}`);
}

/** `--render`: rewrites the report and the plot from the last run's bench/out/results*.json. */
async function render() {
  const file = join(OUT, quick ? "results.quick.json" : "results.json");
  const { results } = (await Bun.file(file).json()) as { results: Results };
  const summary = computeSummary(results);
  const dest = quick ? { md: join(OUT, "BENCHMARKS.quick.md"), svg: join(OUT, "results.quick.svg"), svgRef: "results.quick.svg" } : { md: join(ROOT, "BENCHMARKS.md"), svg: join(ROOT, "bench/results.svg"), svgRef: "bench/results.svg" };
  writeFileSync(dest.svg, renderSvg(results, summary));
  writeFileSync(dest.md, renderMarkdown(results, summary, dest.svgRef));
  console.log(`${summary.console}\n`);
  log(`rewrote ${dest.md} and ${dest.svg} from ${file}`);
}

await (args.has("--render") ? render() : main()).catch((e) => {
  console.error(`[bench] failed: ${(e as Error).stack ?? e}`);
  killAll();
  process.exit(1);
});
process.exit(0);

/** One round of Responses and Messages: each target's throughput on each, in an order that rotates. */
async function apiRound(env: Env, apiTargets: Target[], r: number, apis: ApiResults, notes: string[]): Promise<void> {
  for (const id of OTHER_APIS) {
    const round: ApiRound = {};
    for (let i = 0; i < apiTargets.length; i++) {
      const t = apiTargets[(i + r) % apiTargets.length]!;
      const one = async (stream: boolean) => {
        try {
          return await throughput(env, t, stream, APIS[id]);
        } catch (e) {
          notes.push(`round ${r + 1}: ${t.label} on ${APIS[id].path} could not be measured: ${(e as Error).message}`);
          return undefined;
        }
      };
      round[t.id as ApiTarget] = { ns: await one(false), st: await one(true) };
    }
    apis[id]!.rounds.push(round);
  }
}
