import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

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

export interface RunningBinary {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  /** Everything printed on stdout so far (kept up to date). */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/**
 * Runs the binary (`serve`, `demo`, ...) and waits for its "listening on <url>" line. Only PATH
 * and HOME come from this environment, plus `env`.
 */
export async function startBinary(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<RunningBinary> {
  const proc = Bun.spawn([BIN, ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: opts.cwd, PORT: "0", HOST: "127.0.0.1", ...opts.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let url: string | undefined;
  while (!url) {
    const { value, done } = await reader.read();
    if (done) {
      const err = await new Response(proc.stderr).text();
      throw new Error(`tollgate ${args.join(" ")} exited (${await proc.exited}) before listening: ${text}${err}`);
    }
    text += decoder.decode(value, { stream: true });
    url = /listening on (http:\/\/[^\s]+)/.exec(text)?.[1];
  }
  void (async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += decoder.decode(r.value, { stream: true });
    }
  })();
  return {
    proc,
    url: url.replace("0.0.0.0", "127.0.0.1"),
    output: () => text,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return proc.exited;
    },
  };
}

/** A request to a running binary's admin API with `token`: GET without a body, POST with one; its JSON answer. */
export async function adminCall(url: string, token: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url + path, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

/** A customer made through a running binary's admin API: an account named `name` with `credits` micros, and `keys` keys. */
export async function binaryCustomer(url: string, token: string, name: string, credits: number, keys = 1): Promise<{ accountId: string; keys: string[] }> {
  const accountId = (await adminCall(url, token, "/admin/accounts", { name })).id as string;
  await adminCall(url, token, `/admin/accounts/${accountId}/credits`, { amount_micros: credits });
  const made: string[] = [];
  for (let i = 0; i < keys; i++) made.push((await adminCall(url, token, `/admin/accounts/${accountId}/keys`, {})).key as string);
  return { accountId, keys: made };
}
