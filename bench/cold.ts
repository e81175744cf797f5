/**
 * Cold starts alone, while optimising start-up: the binary (or any command) spawned on a migrated
 * database with a key, to the first proxied 200, N times; prints each time and the median.
 * Usage: bun bench/cold.ts [--runs=9] [--cmd="dist/tollgate"]
 */
import { join, resolve } from "node:path";
import { coldStart } from "./scenarios";
import { jsonHeaders, prepareTollgate, provision, startTollgate, startUpstream } from "./targets";
import { killAll } from "./proc";
import { ensureTools } from "./tools";

const ROOT = resolve(import.meta.dir, "..");
const OUT = join(ROOT, "bench/out");
const arg = (n: string, d: string) => process.argv.find((a) => a.startsWith(`--${n}=`))?.slice(n.length + 3) ?? d;
process.on("exit", killAll);
const tools = ensureTools(ROOT, OUT, console.log);
const up = await startUpstream(ROOT, tools.upstreamBin, "1", join(OUT, "cold-upstream.log"));
const setup = prepareTollgate(join(OUT, "cold-tollgate"), up);
const cmd = arg("cmd", join(ROOT, "dist/tollgate")).split(" ");
const first = await startTollgate(cmd, setup, "0", join(OUT, "cold-first.log"));
const headers = jsonHeaders((await provision(first.target.url)).key);
first.proc.kill("SIGTERM");
await first.proc.exited;
const times: number[] = [];
for (let i = 0; i < Number(arg("runs", "9")); i++) {
  times.push(await coldStart([...cmd, "serve", "--config", setup.configPath], setup.env, 18_000 + i, headers, "0", join(OUT, "cold-run.log")));
}
times.sort((a, b) => a - b);
console.log(times.map((t) => t.toFixed(1)).join(" "), "median", times[Math.floor(times.length / 2)]!.toFixed(1), "ms");
process.exit(0);
