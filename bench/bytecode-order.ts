/**
 * Records build/tollgate.order, the profile `bun run build` lays the binary's bytecode out by
 * (--bytecode-order): the functions a start runs come first, so the binary reads and decodes
 * less of itself. The recorded run is the benchmarked cold start: `serve` on a migrated database
 * with a key, then the first chat completions (plain and streamed) through a fake upstream.
 * Usage: `bun run build:order`, then `bun run build`. Re-record when startup code changes a lot
 * (functions are matched by a hash of their code; unmatched ones only load slower).
 */
import { copyFileSync, existsSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { killAll, stop } from "./proc";
import { BODY, CHAT_PATH, prepareTollgate, provision, startTollgate, startUpstream, STREAM_BODY } from "./targets";

const ROOT = resolve(import.meta.dir, "..");
const DIR = join(ROOT, ".tmp/bytecode-order");
const ORDER = join(ROOT, "build/tollgate.order");
const BIN = join(ROOT, "dist/tollgate");

try {
  const build = Bun.spawnSync(["bun", "run", "build"], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if (build.exitCode !== 0) throw new Error("bun run build failed");
  const up = await startUpstream(ROOT, null, "1", "/dev/null");
  const setup = prepareTollgate(DIR, up);
  const first = await startTollgate(BIN, setup, "0", "/dev/null");
  const { key } = await provision(first.target.url);
  await first.target.stop();

  const recorded = join(DIR, "run.order");
  setup.env.BUN_BYTECODE_ORDER_OUT = recorded;
  const tg = await startTollgate(BIN, setup, "0", "/dev/null");
  const headers = { "content-type": "application/json", authorization: `Bearer ${key}` };
  for (const body of [BODY, STREAM_BODY]) {
    const res = await fetch(tg.target.url + CHAT_PATH, { method: "POST", headers, body });
    await res.text();
    if (res.status !== 200) throw new Error(`chat completion answered ${res.status}`);
  }
  // The profile is written when the process exits.
  await stop(tg.proc);
  await up.stop();
  if (!existsSync(recorded)) throw new Error("the binary wrote no profile");
  copyFileSync(recorded, ORDER);
  rmSync(DIR, { recursive: true, force: true });
  console.log(`wrote ${ORDER}; run \`bun run build\` to use it`);
} finally {
  killAll();
}
