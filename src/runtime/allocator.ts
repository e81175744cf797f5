/**
 * Bun's allocator (mimalloc) gives freed memory back to the system 10 ms after it was freed and
 * faults it in again a moment later: under load that churn costs about a tenth of the gateway's
 * CPU per request, and its tail at concurrency 1 (docs/benchmarks.md). Telling it to keep freed
 * memory (`MIMALLOC_PURGE_DELAY=-1`) is read from the environment before any JavaScript runs, so
 * `serve` re-executes itself once with it: same process id, arguments and environment otherwise.
 * An operator who set the variable (any value: 10 is mimalloc's own default) is left alone.
 */
export const PURGE_DELAY = "MIMALLOC_PURGE_DELAY";

type Exec = (file: string, args: string[], env: Record<string, string | undefined>) => never;

export interface ProcessLike {
  argv: string[];
  execArgv: string[];
  execPath: string;
  env: Record<string, string | undefined>;
  execve?: Exec;
}

/** The command line that runs this program again: a compiled binary re-applies its own runtime flags. */
export function sameCommand(p: Pick<ProcessLike, "argv" | "execArgv" | "execPath">): string[] {
  const compiled = /^(\/\$bunfs\/|[A-Za-z]:[\\/]~BUN[\\/])/.test(p.argv[1] ?? "");
  return compiled ? [p.execPath, ...p.argv.slice(2)] : [p.execPath, ...p.execArgv, ...p.argv.slice(1)];
}

/**
 * Re-executes the process with the allocator told to keep freed memory, unless the environment
 * already says what to do. Returns only when it did not (set already, or no execve here, or it
 * failed: the gateway then runs with the allocator's default, as before).
 */
export function keepFreedMemory(p: ProcessLike = process as unknown as ProcessLike, warn: (m: string) => void = console.error): void {
  if (p.env[PURGE_DELAY] !== undefined || typeof p.execve !== "function") return;
  try {
    p.execve(p.execPath, sameCommand(p), { ...p.env, [PURGE_DELAY]: "-1" });
  } catch (e) {
    warn(`warning: could not restart with ${PURGE_DELAY}=-1 (${(e as Error).message}); the allocator keeps its default`);
  }
}
