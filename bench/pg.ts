/**
 * `bun bench/pg.ts [--quick]`: the gateway on PostgreSQL, one instance and two, beside the single
 * SQLite gateway, in the same run against the same upstream: requests per second and CPU per
 * request (the gateways' and PostgreSQL's). Writes bench/out/pg.md. Two instances share the server
 * CPU here (a 2-core machine): the figure shows the cost of sharing the books, not scale-out.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { wrk } from "./load";
import { cpuSeconds, HAS_TASKSET, killAll } from "./proc";
import { BODY, prepareTollgate, provision, smokeCheck, startTollgate, startUpstream, jsonHeaders, type Target } from "./targets";
import { ensureTools } from "./tools";
import { freshPostgres } from "../test/support/postgres";

const ROOT = resolve(import.meta.dir, "..");
const OUT = join(ROOT, "bench/out");
const quick = process.argv.includes("--quick");
const ROUNDS = quick ? 2 : 5;
const SECONDS = quick ? 2 : 5;
const CONNECTIONS = 50;
const S = "0";
const L = "1";
const log = (s: string) => console.log(`[bench:pg] ${s}`);
process.on("exit", killAll);

interface Setup {
  label: string;
  targets: Target[];
}
interface Figures {
  rps: number;
  gatewayUs: number;
  postgresUs: number;
}

/** Every PostgreSQL server process (the throwaway cluster's). */
function postgresPids(): number[] {
  const r = Bun.spawnSync(["pgrep", "-x", "postgres"], { stdout: "pipe" });
  return r.stdout.toString().trim().split("\n").filter(Boolean).map(Number);
}

/** One throughput run: every target at once, the connections split between them. */
async function measure(env: { wrk: string }, s: Setup): Promise<Figures> {
  const gw0 = cpuSeconds(s.targets.flatMap((t) => t.pids()));
  const pg0 = cpuSeconds(postgresPids());
  const per = Math.floor(CONNECTIONS / s.targets.length);
  const runs = await Promise.all(s.targets.map((t) => wrk(env.wrk, OUT, t, { body: BODY, connections: per, seconds: SECONDS, cpu: L })));
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const gw = cpuSeconds(s.targets.flatMap((t) => t.pids())) - gw0;
  const pg = cpuSeconds(postgresPids()) - pg0;
  return { rps: requests / SECONDS, gatewayUs: (gw * 1e6) / requests, postgresUs: (pg * 1e6) / requests };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function start(binary: string, up: { url: string; port: number; pids(): number[]; stop(): Promise<void> }, name: string, env: Record<string, string>): Promise<Target> {
  const setup = prepareTollgate(join(OUT, `pg-${name}`), up);
  const { target } = await startTollgate(binary, setup, S, join(OUT, `pg-${name}.log`), { ...env, TOLLGATE_LOG_FORMAT: "off" });
  return target;
}

async function withKey(targets: Target[]): Promise<void> {
  const { key } = await provision(targets[0]!.url);
  for (const t of targets) {
    t.headers = jsonHeaders(key);
    await smokeCheck(t);
  }
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const tools = ensureTools(ROOT, OUT, log);
  if (!tools.wrk) throw new Error("wrk is required (apt-get install wrk)");
  if (Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "ignore", stderr: "pipe" }).exitCode !== 0) throw new Error("bun run build failed");
  const binary = join(ROOT, "dist/tollgate");
  const up = await startUpstream(ROOT, tools.upstreamBin, L, join(OUT, "pg-upstream.log"));
  const url1 = await freshPostgres();
  const url2 = await freshPostgres();
  const setups: Setup[] = [
    { label: "SQLite, 1 instance", targets: [await start(binary, up, "sqlite", {})] },
    { label: "PostgreSQL, 1 instance", targets: [await start(binary, up, "pg1", { TOLLGATE_DATABASE_URL: url1, TOLLGATE_INSTANCE_ID: "a" })] },
    {
      label: "PostgreSQL, 2 instances",
      targets: [
        await start(binary, up, "pg2a", { TOLLGATE_DATABASE_URL: url2, TOLLGATE_INSTANCE_ID: "a" }),
        await start(binary, up, "pg2b", { TOLLGATE_DATABASE_URL: url2, TOLLGATE_INSTANCE_ID: "b" }),
      ],
    },
  ];
  for (const s of setups) await withKey(s.targets);
  const results = new Map<string, Figures[]>(setups.map((s) => [s.label, []]));
  // Rounds interleave the setups, so that a noisy moment hits all of them alike.
  for (let r = 0; r < ROUNDS; r++) {
    for (const s of setups) {
      results.get(s.label)!.push(await measure({ wrk: tools.wrk }, s));
      log(`round ${r + 1}: ${s.label}: ${Math.round(results.get(s.label)!.at(-1)!.rps)} req/s`);
    }
  }
  writeReport(results);
  for (const s of setups) for (const t of s.targets) await t.stop();
  await up.stop();
}

function writeReport(results: Map<string, Figures[]>): void {
  const base = median(results.get("SQLite, 1 instance")!.map((f) => f.rps));
  const lines = [
    `# Tollgate on PostgreSQL (${new Date().toISOString().slice(0, 10)}, ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections, non-streaming)`,
    "",
    `Gateways pinned to CPU ${S}${HAS_TASKSET ? "" : " (taskset missing: not pinned)"}; wrk and the upstream on CPU ${L}; PostgreSQL unpinned.`,
    "",
    "| setup | req/s (median) | vs SQLite | gateway CPU µs/req | PostgreSQL CPU µs/req |",
    "|---|---:|---:|---:|---:|",
  ];
  for (const [label, fs] of results) {
    const rps = median(fs.map((f) => f.rps));
    lines.push(`| ${label} | ${Math.round(rps)} | ${(rps / base).toFixed(2)}× | ${Math.round(median(fs.map((f) => f.gatewayUs)))} | ${Math.round(median(fs.map((f) => f.postgresUs)))} |`);
  }
  const text = lines.join("\n") + "\n";
  writeFileSync(join(OUT, "pg.md"), text);
  console.log(text);
}

await main();
process.exit(0);
