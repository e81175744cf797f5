/** Medians, ratios to the bare proxy, the target checks, BENCHMARKS.md and the SVG plot. */
import { median, type TtftResult, type WrkResult } from "./load";
import type { Settings, Soak, Throughput } from "./scenarios";
import type { TargetId } from "./targets";
import { inProcessText, type InProcess } from "./report-in-process";
import { apiChecks, apisText, type ApiResults } from "./report-apis";
import { moneyChecks, moneyText } from "./report-money";
import { f0, f1, f2 } from "./format";
export type { InProcess } from "./report-in-process";

export type RoundData = Partial<Record<TargetId, { ns?: Throughput; st?: Throughput; c1?: WrkResult; rate?: WrkResult; ttft?: TtftResult }>>;

export interface Results {
  date: string;
  settings: Settings;
  machine: { cpu: string; cores: number; kernel: string; memory: string; loadavg: string };
  versions: Record<string, string>;
  notes: string[];
  upstream: string;
  targets: { id: TargetId; label: string }[];
  facts: Record<string, Record<string, string>>;
  rssStart: Record<string, number>;
  /** Tollgate's RSS after start with its binary read from disk (not just built); absent in older results. */
  rssFromDisk?: number[];
  rssIdle: Record<string, number>;
  rounds: RoundData[];
  soak: Soak;
  cold: { tollgate: number[]; bare: number[] };
  /** Shares of Tollgate's JavaScript-thread CPU samples by area (bench/profile.ts). */
  profile: { area: string; share: number }[];
  /** bench/hot-path.ts: CPU per request in process, without sockets, floor handler against the route (absent in older results). */
  inProcess?: { ns: InProcess | null; st: InProcess | null };
  /** bench/hot-path.ts --floor=money: the same beside the money floor (absent in older results). */
  moneyInProcess?: { ns: InProcess | null; st: InProcess | null };
  /** Responses and Messages, each against its own floor (absent in older results). */
  apis?: ApiResults;
  binaryBytes: number;
  charged: { requestsBilledMicros: number };
  durationSeconds: number;
}


type Row = Record<string, number>;
export interface Check {
  name: string;
  threshold: string;
  measured: string;
  pass: boolean;
  /** What a minimal proxy reaches on the same measure in the same rounds (the floors, or the bare proxy against Portkey). */
  floor?: string;
}
export interface Summary {
  medians: Record<string, Row>;
  /** Median over rounds of (target / bare) in the same round. */
  ratios: Record<string, Row>;
  /** Median over rounds of (target − reference) in the same round, microseconds. */
  overDirect: Record<string, Row>;
  overBare: Record<string, Row>;
  checks: Check[];
  console: string;
}

const METRICS: Record<string, (d: NonNullable<RoundData[TargetId]>) => number | undefined> = {
  ns_rps: (d) => d.ns?.rps,
  st_rps: (d) => d.st?.rps,
  ns_cpu_us: (d) => d.ns?.cpuUs,
  st_cpu_us: (d) => d.st?.cpuUs,
  ns_errors: (d) => d.ns?.errors,
  st_errors: (d) => d.st?.errors,
  ns_load_busy: (d) => d.ns?.loadBusy,
  st_load_busy: (d) => d.st?.loadBusy,
  peak_rss: (d) => Math.max(d.ns?.peakRssMiB ?? 0, d.st?.peakRssMiB ?? 0),
  c1_p50: (d) => d.c1?.p50,
  c1_p99: (d) => d.c1?.p99,
  rate_rps: (d) => d.rate?.rps,
  rate_p50: (d) => d.rate?.p50,
  rate_p99: (d) => d.rate?.p99,
  ttft_p50: (d) => d.ttft?.ttftP50,
  ttft_p99: (d) => d.ttft?.ttftP99,
};
const LATENCIES = ["c1_p50", "c1_p99", "rate_p50", "rate_p99", "ttft_p50", "ttft_p99"];

function perRound(r: Results, id: string, metric: string, combine: (x: number, ref: number) => number, ref: TargetId): number {
  const f = METRICS[metric]!;
  return median(
    r.rounds.map((round) => {
      const a = round[id as TargetId];
      const b = round[ref];
      const x = a ? f(a) : undefined;
      const y = b ? f(b) : undefined;
      return x === undefined || y === undefined ? NaN : combine(x, y);
    }),
  );
}

/**
 * The performance targets: Tollgate's own CPU per request above the metering floor with signal,
 * timer and headers (what any metering gateway on Bun spends), and its c=1 p99 against that floor's.
 */
function ownWork(r: Results, has: (id: string) => boolean, floor: (m: "ns_rps" | "st_rps") => string | undefined): Check[] {
  if (!has("floor-extras")) return [];
  const own = (m: string) => perRound(r, "tollgate", m, (a, b) => a - b, "floor-extras");
  const [ns, st] = [own("ns_cpu_us"), own("st_cpu_us")];
  const p99 = perRound(r, "tollgate", "c1_p99", (a, b) => a / b, "floor-extras");
  return [
    { name: "Tollgate's own CPU per non-streaming request above the floor with extras", threshold: "≤ 25 µs", measured: `${ns.toFixed(0)} µs`, pass: ns <= 25, floor: floor("ns_rps") && `throughput ${floor("ns_rps")}` },
    { name: "Tollgate's own CPU per streamed request above the floor with extras", threshold: "≤ 40 µs", measured: `${st.toFixed(0)} µs`, pass: st <= 40, floor: floor("st_rps") && `throughput ${floor("st_rps")}` },
    { name: "c=1 p99 latency against the floor with extras", threshold: "≤ 2×", measured: `${p99.toFixed(2)}×`, pass: p99 <= 2 },
  ];
}

export function computeSummary(r: Results): Summary {
  const medians: Record<string, Row> = {};
  const ratios: Record<string, Row> = {};
  const overDirect: Record<string, Row> = {};
  const overBare: Record<string, Row> = {};
  for (const { id } of r.targets) {
    medians[id] = {};
    for (const [m, f] of Object.entries(METRICS)) medians[id]![m] = median(r.rounds.map((x) => (x[id] ? f(x[id]!) ?? NaN : NaN)));
    ratios[id] = {
      ns_rps: perRound(r, id, "ns_rps", (x, y) => x / y, "bare"),
      st_rps: perRound(r, id, "st_rps", (x, y) => x / y, "bare"),
      // Capacity from CPU time (bare's CPU per request / this target's): unaffected by the load side.
      ns_cpu: perRound(r, id, "ns_cpu_us", (x, y) => y / x, "bare"),
      st_cpu: perRound(r, id, "st_cpu_us", (x, y) => y / x, "bare"),
    };
    overDirect[id] = Object.fromEntries(LATENCIES.map((m) => [m, perRound(r, id, m, (x, y) => x - y, "direct")]));
    overBare[id] = Object.fromEntries(LATENCIES.map((m) => [m, perRound(r, id, m, (x, y) => x - y, "bare")]));
  }
  const tg = "tollgate";
  const has = (id: string) => r.targets.some((t) => t.id === id);
  const x = (v: number) => `${v.toFixed(2)}×`;
  const floor = (m: "ns_rps" | "st_rps") =>
    has("floor") && has("floor-extras") ? `${x(ratios.floor![m]!)} parsing only; ${x(ratios["floor-extras"]![m]!)} with signal, timer, headers` : undefined;
  const checks: Check[] = [...ownWork(r, has, floor), ...moneyChecks(r.rounds), ...apiChecks(r.apis), { name: "added p50 latency at concurrency 1 over bare proxy", threshold: "≤ 150 µs", measured: `${overBare[tg]!.c1_p50!.toFixed(0)} µs`, pass: overBare[tg]!.c1_p50! <= 150 }];
  if (has("portkey")) {
    const vsPortkey = (id: string, m: "ns_rps" | "st_rps") => perRound(r, id, m, (a, b) => a / b, "portkey");
    const [ns, st] = [vsPortkey(tg, "ns_rps"), vsPortkey(tg, "st_rps")];
    const floor = `bare proxy itself: ${x(vsPortkey("bare", "ns_rps"))} / ${x(vsPortkey("bare", "st_rps"))}`;
    checks.push({ name: "throughput vs Portkey on Bun (non-streaming / streaming), for reference", threshold: "–", measured: `${x(ns)} / ${x(st)}`, pass: true, floor });
  }
  const idle = r.rssStart[tg]!;
  const fromDisk = r.rssFromDisk?.length ? `; ${median(r.rssFromDisk).toFixed(1)} MiB with the binary read from disk` : "";
  checks.push({ name: "idle RSS (started, before the first request)", threshold: "≤ 50 MiB", measured: `${idle.toFixed(1)} MiB${fromDisk}`, pass: idle <= 50 });
  checks.push({ name: `RSS growth during the ${Math.round(r.soak.seconds / 60) || r.soak.seconds + " s"}${r.soak.seconds >= 60 ? "-minute" : ""} streaming soak`, threshold: "< 1 MiB/min", measured: `${r.soak.growthMiBPerMin.toFixed(2)} MiB/min`, pass: r.soak.growthMiBPerMin < 1 });
  const cold = median(r.cold.tollgate);
  checks.push({ name: "cold start of the binary to the first proxied 200", threshold: "≤ 60 ms", measured: `${cold.toFixed(1)} ms`, pass: cold <= 60 });

  const lines = [
    `Tollgate vs bare Bun proxy (medians of ${r.settings.rounds} interleaved rounds${r.settings.quick ? ", quick smoke: short runs, noisy" : ""}):`,
    ...checks.map((c) => `  ${c.threshold === "–" ? "INFO" : c.pass ? "PASS" : "MISS"}  ${c.name}: ${c.measured} (target ${c.threshold}${c.floor ? `; ${c.floor}` : ""})`),
    "Throughput ratios to the bare proxy, non-streaming / streaming (CPU-time ratios):",
    ...r.targets.map((t) => `  ${t.label.padEnd(40)} ${x(ratios[t.id]!.ns_rps!)} / ${x(ratios[t.id]!.st_rps!)}  (${x(ratios[t.id]!.ns_cpu!)} / ${x(ratios[t.id]!.st_cpu!)})  ${Math.round(medians[t.id]!.ns_rps!)} / ${Math.round(medians[t.id]!.st_rps!)} req/s`),
  ];
  return { medians, ratios, overDirect, overBare, checks, console: lines.join("\n") };
}

const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? "–" : `${Math.round(v * 100)} %`);
const signed = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? "–" : `${v >= 0 ? "+" : ""}${Math.round(v)}`);

export function renderMarkdown(r: Results, s: Summary, svgPath: string): string {
  const S = r.settings;
  const cmd = S.quick ? "bun run bench:quick" : "bun run bench";
  const rows = (f: (id: TargetId, label: string) => string) => r.targets.map((t) => f(t.id, t.label)).join("\n");
  const tgRequests = r.rounds.reduce((a, x) => a + (x.tollgate?.ns?.requests ?? 0) + (x.tollgate?.st?.requests ?? 0) + (x.tollgate?.c1?.requests ?? 0) + (x.tollgate?.rate?.requests ?? 0) + (x.tollgate?.ttft?.samples ?? 0), 0) + r.soak.requests;
  return `# Benchmarks

Generated by \`${cmd}\` (bench/run.ts) on ${r.date.slice(0, 16).replace("T", " ")} UTC in ${Math.round(r.durationSeconds / 60)} min. Do not edit: rerun the harness.
Every figure is the median over ${S.rounds} interleaved rounds, compared with the bare Bun proxy measured in the same round.

![throughput and latency per target](${svgPath})

## Targets

| target | threshold | measured | | a minimal proxy, same rounds |
|---|---|---|---|---|
${s.checks.map((c) => `| ${c.name} | ${c.threshold} | ${c.measured} | ${c.threshold === "–" ? "–" : c.pass ? "met" : "**missed**"} | ${c.floor ?? ""} |`).join("\n")}

The last column is what the runtime leaves: the **metering floor** (bench/json-proxy.ts) is the bare proxy plus only what any gateway that bills by usage must do: parse the request's JSON and the answer's (re-serialising it), or for a stream read every chunk in JavaScript and parse every event; "with signal, timer, headers" adds what every request of a well-behaved gateway costs the runtime: the client's abort signal passed upstream, a total-timeout timer, x-request-id and six x-ratelimit-* headers. No auth, no limits, no money (the **money floor** adds the least the money rules need: its own section below). Against Portkey, the bare proxy's own ratio is the ceiling of any Bun gateway.

## Machine

- CPU: ${r.machine.cpu}, ${r.machine.cores} cores; ${r.machine.memory}; ${r.machine.kernel}; load average at the end: ${r.machine.loadavg}
- ${Object.entries(r.versions).map(([k, v]) => `${k}: ${v}`).join("; ")}
- The machine is shared and noisy: only ratios and differences measured in the same round are meaningful.

## Method

- Servers are pinned to CPU ${S.serverCpu} with \`taskset\`; the load generator (wrk, one thread), the fake upstream (${r.upstream}) and the probes run on CPU ${S.loadCpu}. The load CPU's busy share is reported so that a saturated load side can be seen.
- Fake upstream: a fixed small chat completion with usage (Responses and Messages: their own section below); streams carry ${r.facts.direct?.["stream events per response"] ?? "24"} SSE events (role, 20 content chunks, finish, usage, [DONE]), each in its own write.
- Targets: **upstream (direct)** (no proxy: the reference for added latency); **bare Bun proxy** (bench/bare-proxy.ts: reads the body, forwards it, streams the answer back; no auth, no parsing: the floor of the runtime); **metering floor** (bench/json-proxy.ts, plain and with signal, timer and headers: see above); **money floor** (the floor with extras plus the least the money rules need: its own section below); **Tollgate**, the compiled binary (\`bun run build\`) with every feature on: key authentication, rate limits (a plan far above the load, still admitted per request), credit reservation and settlement with its ledger entry and usage-log row (durable in the settlement journal before the response completes, written to SQLite in batches once 16 wait, at the latest after 100 ms: the default \`settle_batch_ms\`; the default \`cpu_scheduling\`, auto: Bun's HTTP client thread under SCHED_BATCH while the JavaScript thread is saturated, which it finds within about half a second of a round's start; \`normal\` is measured with \`bun bench/ab.ts --env-a=TOLLGATE_CPU_SCHEDULING=normal\`); **nginx** (one worker, upstream keep-alive, no buffering) as a native reference; **Portkey's gateway** (@portkey-ai/gateway run with Bun, provider openai, custom host = the fake upstream) as the TypeScript peer.
- Throughput: \`wrk -t1 -c${S.connections} -d${S.throughputSeconds}s\` non-streaming and streaming. CPU per request is the target's user+system time over the run divided by the requests it served: its own in-process time, with the upstream's excluded.
- Latency: \`wrk -t1 -c1 -d${S.latencySeconds}s\` (concurrency 1) and \`wrk -t1 -c${S.rate.connections} -d${S.latencySeconds}s\` with each connection pausing ${S.rate.delayMs} ms after a response (a fixed offered rate of about ${Math.round((S.rate.connections * 1000) / S.rate.delayMs)} req/s). Added latency = target − upstream direct in the same round; "over bare" = target − bare proxy.
- Time to first token: a raw-socket client at concurrency 1 over a keep-alive connection, ${S.ttftSamples} streaming requests per round, from the request's first byte to the first content token.
- Memory: RSS from /proc (all processes of a target): right after start (before any request), idle after warm-up, peak under load, and a ${r.soak.seconds} s streaming soak of Tollgate (10 connections, 10 ms pause) sampled over time; growth is the least-squares slope after the first fifth.
- Cold start: from spawning \`dist/tollgate serve\` (migrated database, existing key) to the first 200 of POST /v1/chat/completions, the client retrying every millisecond; ${S.coldStarts} runs, alternated with the bare proxy (\`bun bench/bare-proxy.ts\`) as the runtime's floor.

Commands: this file came from \`${cmd}\`. Full run: \`bun run bench\`; smoke (about two minutes, writes bench/out/): \`bun run bench:quick\`; \`bun bench/run.ts --soak-seconds=N\` shortens the soak; \`bun bench/run.ts --render\` rewrites this file and the plot from the last run's bench/out/results.json. While optimising: \`bun bench/compare.ts [--stream] [--cpu-prof]\` (bare proxy against Tollgate from source, a few rounds).

## Throughput (req/s, 50 connections)

| target | non-streaming | ratio to bare | CPU µs/request | CPU-time ratio | load CPU busy | streaming | ratio to bare | CPU µs/request | CPU-time ratio | load CPU busy | errors |
|---|---|---|---|---|---|---|---|---|---|---|---|
${rows((id, label) => { const m = s.medians[id]!; const q = s.ratios[id]!; return `| ${label} | ${f0(m.ns_rps)} | ${f2(q.ns_rps)}× | ${f0(m.ns_cpu_us)} | ${id === "direct" ? "–" : `${f2(q.ns_cpu)}×`} | ${pct(m.ns_load_busy)} | ${f0(m.st_rps)} | ${f2(q.st_rps)}× | ${f0(m.st_cpu_us)} | ${id === "direct" ? "–" : `${f2(q.st_cpu)}×`} | ${pct(m.st_load_busy)} | ${f0(m.ns_errors)} / ${f0(m.st_errors)} |`; })}

CPU µs/request is the target's own CPU time (all its threads) per request served. The CPU-time ratio (bare proxy's CPU per request / the target's) is the capacity ratio on one core, whatever the load side does. "Load CPU busy" is CPU ${S.loadCpu}, shared by wrk and the upstream: near 100 % the load side, not the target, capped that run, and its req/s understate the target (the direct-upstream row shows the load side's own ceiling).

## Latency (µs)

| target | c=1 p50 | c=1 p99 | added p50 / p99 over upstream | over bare (p50) | at ~${Math.round((S.rate.connections * 1000) / S.rate.delayMs)} req/s p50 | p99 | added p50 / p99 | TTFT p50 | TTFT p99 | added TTFT p50 | over bare |
|---|---|---|---|---|---|---|---|---|---|---|---|
${rows((id, label) => { const m = s.medians[id]!; const d = s.overDirect[id]!; const b = s.overBare[id]!; return `| ${label} | ${f0(m.c1_p50)} | ${f0(m.c1_p99)} | ${signed(d.c1_p50)} / ${signed(d.c1_p99)} | ${id === "direct" || id === "bare" ? "–" : signed(b.c1_p50)} | ${f0(m.rate_p50)} | ${f0(m.rate_p99)} | ${signed(d.rate_p50)} / ${signed(d.rate_p99)} | ${f0(m.ttft_p50)} | ${f0(m.ttft_p99)} | ${signed(d.ttft_p50)} | ${id === "direct" || id === "bare" ? "–" : signed(b.ttft_p50)} |`; })}

Tollgate's own time per request: ${f0(s.medians.tollgate?.ns_cpu_us)} µs of CPU per non-streaming request (bare proxy ${f0(s.medians.bare?.ns_cpu_us)} µs) and ${f0(s.medians.tollgate?.st_cpu_us)} µs per streamed request (bare ${f0(s.medians.bare?.st_cpu_us)} µs); at concurrency 1 a request through Tollgate takes ${signed(s.overDirect.tollgate?.c1_p50)} µs more than the upstream alone (total minus upstream time), ${signed(s.overBare.tollgate?.c1_p50)} µs more than through the bare proxy.
${apisText(r.apis, S.connections)}${moneyText(r.rounds, r.inProcess, r.moneyInProcess)}
## Where Tollgate's time goes

${r.profile.length ? `Bun's CPU profiler on the gateway run from source (same configuration and pinning, 50 connections, non-streaming), share of the JavaScript thread's busy samples; "native X ← where" is time inside a runtime call made from there (\`fetch\` includes handing the request to Bun's HTTP client thread, \`run\`/\`get\` are SQLite statements).

| area | share |
|---|---|
${r.profile.slice(0, 20).map((p) => `| ${p.area} | ${(p.share * 100).toFixed(1)} % |`).join("\n")}
| everything else | ${(r.profile.slice(20).reduce((a, p) => a + p.share, 0) * 100).toFixed(1)} % |` : "(not measured: see the notes below)"}
${inProcessText(r.inProcess)}

## Memory (RSS, MiB)

| target | after start | idle after warm-up | peak under load |
|---|---|---|---|
${rows((id, label) => `| ${label} | ${id === "direct" ? "–" : f1(r.rssStart[id])} | ${f1(r.rssIdle[id])} | ${f1(s.medians[id]!.peak_rss)} |`)}

"After start" is measured with the binary just built. ${r.rssFromDisk?.length ? `Read back from disk instead (its pages dropped from the page cache first, as after a reboot), the same binary started at ${r.rssFromDisk.map(f1).join(", ")} MiB.` : ""}

Streaming soak of Tollgate: ${r.soak.seconds} s, ${f0(r.soak.requests)} requests (${f0(r.soak.rps)} req/s, ${f0(r.soak.errors)} errors); RSS ${f1(r.soak.rssBeforeMiB)} → ${f1(r.soak.rssAfterMiB)} MiB; growth after warm-up **${f2(r.soak.growthMiBPerMin)} MiB/min**.
Samples (s: MiB): ${r.soak.samples.filter((_, i, a) => a.length <= 24 || i % Math.ceil(a.length / 24) === 0).map(([t, m]) => `${Math.round(t)}: ${m.toFixed(1)}`).join(", ")}.

## Cold start and binary

- Tollgate binary to first proxied 200: median **${f1(median(r.cold.tollgate))} ms** (runs: ${r.cold.tollgate.map((v) => v.toFixed(1)).join(", ")})
- bare Bun proxy (\`bun bench/bare-proxy.ts\`): median ${f1(median(r.cold.bare))} ms (runs: ${r.cold.bare.map((v) => v.toFixed(1)).join(", ")})
- Binary size (dist/tollgate): ${(r.binaryBytes / 1048576).toFixed(1)} MiB

## Checks made along the way

- Every target answered a non-streaming and a streaming request correctly before measuring; Tollgate's rate limiter was on (x-ratelimit-limit-requests: ${r.facts.tollgate?.["x-ratelimit-limit-requests"] ?? "?"}).
- Tollgate charged ${f0(r.charged.requestsBilledMicros)} micros for about ${f0(tgRequests)} measured requests at 64 micros each (${f2(r.charged.requestsBilledMicros / (tgRequests * 64))}× of that; warm-up and requests cut off when wrk stops account for the rest).
${r.notes.length ? r.notes.map((n) => `- ${n}`).join("\n") : ""}
`;
}
