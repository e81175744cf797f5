/** bench/run.ts's in-process measures: bench/hot-path.ts run pinned, its figures read from its stderr. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ApiId } from "./answers";
import { spawnPinned } from "./proc";
import type { InProcess } from "./report";

/**
 * bench/hot-path.ts on the server's CPU: the gateway's own work without sockets, above the metering
 * floor with extras or (`money`) above the money floor (null if it failed; noted).
 */
export async function hotPath(root: string, out: string, cpu: string, quick: boolean, stream: boolean, notes: string[], api: ApiId = "chat", money = false): Promise<InProcess | null> {
  const args = [join(root, "bench/hot-path.ts"), `--api=${api}`, `--rounds=${quick ? 3 : 7}`, `--requests=${quick ? 3000 : stream ? 8000 : 20000}`, ...(stream ? ["--stream"] : []), ...(money ? ["--floor=money"] : [])];
  // Its stdout is the gateway's log lines, dropped; its figures end its stderr.
  const log = join(out, `hot-path${api === "chat" ? "" : `-${api}`}${money ? "-money" : ""}${stream ? "-stream" : ""}.log`);
  const code = await spawnPinned(["bun", ...args], { cpu, log, quietStdout: true }).exited;
  const err = readFileSync(log, "utf8");
  const m = /HOTPATH (\{.*\})/.exec(err);
  if (code === 0 && m) return JSON.parse(m[1]!) as InProcess;
  notes.push(`bench/hot-path.ts --api=${api}${stream ? " --stream" : ""}${money ? " --floor=money" : ""} failed (exit ${code}): ${err.trim().split("\n").slice(-2).join(" ")}`);
  return null;
}
