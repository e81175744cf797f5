/**
 * A/B of Tollgate's own work in process (bench/hot-path.ts, no sockets): a base revision against
 * the working tree, each run in its own process, alternated (A, B, B, A, ...) so that the machine's
 * drift weighs on both alike. A change of one or two microseconds shows through a noise of ten
 * only as the median of many paired differences: the pairs count, not the absolute figures.
 * Usage: bun bench/ab-hot.ts [--base=HEAD] [--runs=12] [--requests=20000] [--stream] [--api=chat|responses|messages] [--config-b=JSON]
 * (--config-b merges settings into the working tree's configuration only: what a feature costs,
 * e.g. --config-b='{"log_format":"off"}' with the base at HEAD.)
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, rmSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const arg = (n: string, d: string) => process.argv.find((a) => a.startsWith(`--${n}=`))?.split("=")[1] ?? d;
const base = arg("base", "HEAD");
const runs = Number(arg("runs", "12"));
const pass = process.argv.filter((a) => a === "--stream" || a.startsWith("--api=") || a.startsWith("--requests="));
const configB = process.argv.find((a) => a.startsWith("--config-b="))?.slice("--config-b=".length);

const tree = join(ROOT, "bench/out/ab-hot-base");
if (existsSync(tree)) execFileSync("git", ["-C", ROOT, "worktree", "remove", "--force", tree]);
execFileSync("git", ["-C", ROOT, "worktree", "add", "--detach", tree, base], { stdio: "ignore" });
symlinkSync(join(ROOT, "node_modules"), join(tree, "node_modules"));

/** One process, two rounds after its warm-up: Tollgate's median CPU per request in µs. */
function once(root: string, extra: string[] = []): number {
  const r = spawnSync("bun", [join(root, "bench/hot-path.ts"), "--only=tollgate", "--rounds=2", ...pass, ...extra], { cwd: root, encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
  const line = r.stderr.split("\n").find((l) => l.startsWith("HOTPATH "));
  if (!line) throw new Error(`${root}: no result\n${r.stderr.slice(-2000)}`);
  return (JSON.parse(line.slice("HOTPATH ".length)) as { tollgate: number }).tollgate;
}

const a: number[] = [];
const b: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ["a", "b"] : ["b", "a"];
    for (const side of order) (side === "a" ? a : b).push(side === "a" ? once(tree) : once(ROOT, configB ? [`--config=${configB}`] : []));
    console.error(`run ${i + 1}: base ${a.at(-1)!.toFixed(1)} µs, working tree ${b.at(-1)!.toFixed(1)} µs`);
  }
} finally {
  execFileSync("git", ["-C", ROOT, "worktree", "remove", "--force", tree]);
  rmSync(tree, { recursive: true, force: true });
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
const diff = median(b.map((x, i) => x - a[i]!));
console.log(`base ${base}: ${median(a).toFixed(1)} µs; working tree: ${median(b).toFixed(1)} µs; median paired difference ${diff >= 0 ? "+" : ""}${diff.toFixed(1)} µs per request`);
