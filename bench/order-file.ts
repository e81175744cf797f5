/** Records the bytecode order file (the binary's layout profile) and measures how much of it the code still matches. */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { stop } from "./proc";
import { BODY, CHAT_PATH, jsonHeaders, prepareTollgate, provision, startTollgate, startUpstream, STREAM_BODY } from "./targets";

/** The profile `bun run build` lays the bytecode out by (--bytecode-order in package.json). */
export const ORDER_FILE = "build/tollgate.order";

export interface RecordOptions {
  root: string;
  binary: string;
  /** Scratch folder for the database and config (emptied first). */
  dir: string;
  /** Where the recorded profile goes. */
  out: string;
  serverCpu: string;
  upstreamCpu: string;
}

/**
 * The recorded run is the benchmarked cold start: `serve` on a migrated database with a key, then
 * the first chat completions (plain and streamed) through the Bun fake upstream.
 */
export async function recordOrder(o: RecordOptions): Promise<void> {
  const up = await startUpstream(o.root, null, o.upstreamCpu, "/dev/null");
  try {
    const setup = prepareTollgate(o.dir, up);
    const first = await startTollgate(o.binary, setup, o.serverCpu, "/dev/null");
    const { key } = await provision(first.target.url);
    await first.target.stop();
    rmSync(o.out, { force: true });
    const tg = await startTollgate(o.binary, setup, o.serverCpu, "/dev/null", { BUN_BYTECODE_ORDER_OUT: o.out });
    try {
      for (const body of [BODY, STREAM_BODY]) {
        const res = await fetch(tg.target.url + CHAT_PATH, { method: "POST", headers: jsonHeaders(key), body });
        await res.text();
        if (res.status !== 200) throw new Error(`chat completion answered ${res.status}`);
      }
    } finally {
      // The profile is written when the process exits.
      await stop(tg.proc);
    }
  } finally {
    await up.stop();
  }
  if (!existsSync(o.out)) throw new Error("the binary wrote no profile");
}

/**
 * Share of the committed file's entries (hashes of the functions and modules the recorded run
 * used, after its version line) that a fresh recording of the current binary lists too.
 */
export function orderMatch(committed: string, fresh: string): { entries: number; matching: number } {
  const entries = (file: string) => readFileSync(file, "utf8").split("\n").slice(1).filter(Boolean);
  const now = new Set(entries(fresh));
  const old = entries(committed);
  return { entries: old.length, matching: old.filter((e) => now.has(e)).length };
}

/** Records the current binary into `dir` and says how much of the committed order file still matches. */
export async function orderFileReport(o: Omit<RecordOptions, "out">): Promise<string> {
  const out = join(o.dir, "fresh.order");
  await recordOrder({ ...o, out });
  const { entries, matching } = orderMatch(join(o.root, ORDER_FILE), out);
  rmSync(o.dir, { recursive: true, force: true });
  // Rounded down: 100% only when every entry matches.
  const share = entries ? Math.floor((100 * matching) / entries) : 0;
  return `order file: ${share}% of ${entries.toLocaleString("en-US")} entries match the current code (re-record with bun run build:order)`;
}
