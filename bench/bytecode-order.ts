/**
 * Records build/tollgate.order, the profile `bun run build` lays the binary's bytecode out by
 * (--bytecode-order), so that the functions a start runs come first. Re-record when
 * `bun run bench:quick` reports that few of its entries still match the code (unmatched
 * functions still work, they only load slower).
 * Usage: `bun run build:order`, then `bun run build`.
 */
import { copyFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { ORDER_FILE, recordOrder } from "./order-file";
import { killAll } from "./proc";

const ROOT = resolve(import.meta.dir, "..");
const DIR = join(ROOT, ".tmp/bytecode-order");
const ORDER = join(ROOT, ORDER_FILE);

try {
  const build = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if (build.exitCode !== 0) throw new Error("bun run build failed");
  const recorded = join(DIR, "run.order");
  await recordOrder({ root: ROOT, binary: join(ROOT, "dist/tollgate"), dir: DIR, out: recorded, serverCpu: "0", upstreamCpu: "1" });
  copyFileSync(recorded, ORDER);
  rmSync(DIR, { recursive: true, force: true });
  console.log(`wrote ${ORDER}; run \`bun run build\` to use it`);
} finally {
  killAll();
}
