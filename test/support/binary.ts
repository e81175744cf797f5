/**
 * The compiled binary, dist/tollgate: where it is and building it when a source is newer. Start it
 * with startBinaryGateway (test/support/gateway.ts).
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");
export const BIN = join(ROOT, "dist/tollgate");

function newestInput(): number {
  let newest = 0;
  for (const d of ["src", "drizzle"]) {
    for (const f of readdirSync(join(ROOT, d), { recursive: true, encoding: "utf8" })) {
      newest = Math.max(newest, statSync(join(ROOT, d, f)).mtimeMs);
    }
  }
  for (const f of ["package.json", "bun.lock"]) if (existsSync(join(ROOT, f))) newest = Math.max(newest, statSync(join(ROOT, f)).mtimeMs);
  return newest;
}

/** Builds dist/tollgate unless it is newer than every source (CI has just built it). */
export async function ensureBinary(): Promise<string> {
  if (existsSync(BIN) && statSync(BIN).mtimeMs > newestInput()) return BIN;
  const build = Bun.spawn(["bun", "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(build.stdout).text(), new Response(build.stderr).text(), build.exited]);
  if (code !== 0) throw new Error(`bun run build failed (${code}): ${out}\n${err}`);
  return BIN;
}
