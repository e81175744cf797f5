/**
 * Cold starts alone, while optimising start-up: the binary (or any command) spawned on a migrated
 * database with a key, to the first proxied 200, N times; prints each time and the median. Several
 * commands (comma-separated) are alternated run by run on the same database, an A/B of two builds.
 * Usage: bun bench/cold.ts [--runs=9] [--cmd="dist/tollgate[,/tmp/tollgate-before]"]
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
const cmds = arg("cmd", join(ROOT, "dist/tollgate")).split(",").map((c) => c.split(" "));
const first = await startTollgate(cmds[0]!, setup, "0", join(OUT, "cold-first.log"));
const headers = jsonHeaders((await provision(first.target.url)).key);
first.proc.kill("SIGTERM");
await first.proc.exited;
const times: number[][] = cmds.map(() => []);
for (let i = 0; i < Number(arg("runs", "9")); i++) {
  for (const [c, cmd] of cmds.entries()) {
    times[c]!.push(await coldStart([...cmd, "serve", "--config", setup.configPath], setup.env, 18_000 + i, headers, "0", join(OUT, "cold-run.log")));
  }
}
for (const [c, cmd] of cmds.entries()) {
  const t = times[c]!.toSorted((a, b) => a - b);
  console.log(cmd.join(" "), ":", t.map((x) => x.toFixed(1)).join(" "), "median", t[Math.floor(t.length / 2)]!.toFixed(1), "ms");
}
process.exit(0);
