/** Installs or finds what the harness needs; anything missing is skipped with a printed reason. */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";

export interface Tools {
  wrk: string | null;
  nginx: string | null;
  /** The compiled C upstream, or null (the Bun upstream is used instead). */
  upstreamBin: string | null;
  portkey: string | null;
  notes: string[];
  versions: Record<string, string>;
}

const run = (cmd: string[]) => {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return { ok: r.exitCode === 0, out: `${r.stdout.toString()}${r.stderr.toString()}`.trim() };
};

const which = (name: string) => Bun.which(name) ?? Bun.which(name, { PATH: "/usr/sbin:/sbin:/usr/bin:/bin" });

/** apt-get as root for whatever is missing (wrk, nginx, a C compiler). */
function aptInstall(pkgs: string[], notes: string[], log: (s: string) => void): void {
  if (pkgs.length === 0) return;
  if (process.getuid?.() !== 0 || !which("apt-get")) {
    notes.push(`not installed (not root or no apt-get): ${pkgs.join(", ")}`);
    return;
  }
  log(`installing ${pkgs.join(", ")} with apt-get ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const upd = Bun.spawnSync(["apt-get", "update", "-qq"], { env, stdout: "ignore", stderr: "pipe" });
  const inst = Bun.spawnSync(["apt-get", "install", "-y", "-qq", ...pkgs], { env, stdout: "ignore", stderr: "pipe" });
  if (upd.exitCode !== 0 || inst.exitCode !== 0) notes.push(`apt-get install ${pkgs.join(" ")} failed: ${inst.stderr.toString().trim().slice(-300)}`);
}

export function ensureTools(root: string, outDir: string, log: (s: string) => void): Tools {
  const notes: string[] = [];
  const missing: string[] = [];
  if (!which("wrk")) missing.push("wrk");
  if (!which("nginx")) missing.push("nginx");
  if (!which("cc")) missing.push("gcc");
  aptInstall(missing, notes, log);

  const versions: Record<string, string> = { bun: Bun.version };
  const wrk = which("wrk");
  if (wrk) versions.wrk = run([wrk, "--version"]).out.split("\n")[0]!.replace(/ Copyright.*$/, "");
  else notes.push("wrk is missing: throughput and latency figures cannot be measured");
  const nginx = which("nginx");
  if (nginx) versions.nginx = (run([nginx, "-v"]).out.match(/nginx\/[\d.]+/) ?? ["nginx"])[0];
  else notes.push("nginx is missing: the native reverse-proxy reference is skipped");

  // The C upstream (see upstream.c for why); rebuilt when the source is newer.
  let upstreamBin: string | null = null;
  const cc = which("cc");
  const src = join(root, "bench/upstream.c");
  const bin = join(outDir, "upstream");
  if (cc) {
    mkdirSync(outDir, { recursive: true });
    if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
      const r = run([cc, "-O2", "-o", bin, src]);
      if (!r.ok) notes.push(`compiling bench/upstream.c failed (${r.out.slice(0, 200)}): using the Bun upstream`);
    }
    if (existsSync(bin)) upstreamBin = bin;
  } else {
    notes.push("no C compiler: the fake upstream runs on Bun (bench/upstream.ts) and may cap the figures");
  }

  const pk = join(root, "node_modules/@portkey-ai/gateway/build/start-server.js");
  let portkey: string | null = existsSync(pk) ? pk : null;
  if (!portkey) {
    log("installing dependencies (bun install) for @portkey-ai/gateway ...");
    run(["bun", "install"]);
    portkey = existsSync(pk) ? pk : null;
  }
  if (portkey) {
    try {
      versions.portkey = `@portkey-ai/gateway ${(require(join(root, "node_modules/@portkey-ai/gateway/package.json")) as { version: string }).version}`;
    } catch {}
  } else {
    notes.push("@portkey-ai/gateway is not installed: the TypeScript peer is skipped");
  }
  return { wrk, nginx, upstreamBin, portkey, notes, versions };
}
