/**
 * `bun run release`: the executable for every supported platform, in dist/release/, with a
 * SHA256SUMS file that `sha256sum -c SHA256SUMS` verifies.
 *
 * Each target is compiled with the flags of `bun run build` (read from package.json, so the two
 * never drift apart); all of them apply to cross targets. Bun fetches another platform's runtime
 * from the npm registry (@oven/bun-<os>-<arch>) once and caches it; a target that cannot be built
 * (no network, say) is reported and skipped, the others are still built, and the exit code is 1.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const OUT = join(ROOT, "dist/release");

/** Release name → Bun's target. */
export const TARGETS: Record<string, string> = {
  "linux-x64": "bun-linux-x64",
  "linux-arm64": "bun-linux-arm64",
  "darwin-arm64": "bun-darwin-arm64",
};

/** The arguments of package.json's "build" script after `bun build`, without its --outfile. */
function buildFlags(): string[] {
  const script: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts.build;
  const words = script.trim().split(/\s+/);
  if (words[0] !== "bun" || words[1] !== "build") throw new Error(`unexpected build script: ${script}`);
  const flags: string[] = [];
  for (let i = 2; i < words.length; i++) {
    if (words[i] === "--outfile") i++;
    else if (!words[i]!.startsWith("--outfile=")) flags.push(words[i]!);
  }
  return flags;
}

/** Builds one target in a folder of its own (the source maps land there) and keeps only the executable. */
async function buildTarget(name: string, target: string, flags: string[]): Promise<string | null> {
  const work = join(OUT, ".work", name);
  mkdirSync(work, { recursive: true });
  const proc = Bun.spawn(["bun", "build", ...flags, `--target=${target}`, "--outfile", join(work, "tollgate")], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) {
    const why = `${err}\n${out}`.split("\n").map((l) => l.trim()).filter((l) => /error|fail|could not|unable/i.test(l));
    console.error(`release: could not build ${name} (${target}), exit ${code}: ${why.slice(0, 3).join(" | ") || err.trim().slice(-400)}`);
    return null;
  }
  const file = `tollgate-${name}`;
  renameSync(join(work, "tollgate"), join(OUT, file));
  return file;
}

export async function release(names = Object.keys(TARGETS)): Promise<{ built: string[]; failed: string[] }> {
  const unknown = names.filter((n) => !Object.hasOwn(TARGETS, n));
  if (unknown.length) throw new Error(`unknown target(s) ${unknown.join(", ")}; known: ${Object.keys(TARGETS).join(", ")}`);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const flags = buildFlags();
  const built: string[] = [];
  const failed: string[] = [];
  // One at a time: each compile takes a core and a few hundred MB.
  for (const name of names) {
    const file = await buildTarget(name, TARGETS[name]!, flags);
    if (file) {
      built.push(file);
      console.log(`release: built dist/release/${file}`);
    } else failed.push(name);
  }
  rmSync(join(OUT, ".work"), { recursive: true, force: true });
  const sums = built.map((f) => `${createHash("sha256").update(readFileSync(join(OUT, f))).digest("hex")}  ${f}\n`).join("");
  writeFileSync(join(OUT, "SHA256SUMS"), sums);
  console.log(`release: ${built.length} of ${names.length} target(s) in dist/release/ with SHA256SUMS${failed.length ? `; not built: ${failed.join(", ")}` : ""}`);
  return { built, failed };
}

if (import.meta.main) {
  const { failed } = await release(process.argv.slice(2).length ? process.argv.slice(2) : undefined);
  process.exitCode = failed.length ? 1 : 0;
}
