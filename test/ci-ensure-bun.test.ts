import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/**
 * .ci/ensure-bun, which `npm run demo` (.ci/demo) and `npm run check` (.ci/test) start with: the
 * `bun` that runs next is the version package.json pins. npm installs it in its global bin, which an
 * older Bun earlier in PATH (the official installer's ~/.bun/bin) may shadow: sourced, the script
 * puts that folder first in PATH; run on its own, it fails naming both. Simulated with fake `bun`s
 * and a fake `npm` (`prefix -g`, `install -g bun@X`) in a PATH holding nothing else but the tools the
 * scripts use, so the machine's own Bun and npm stay out of it.
 */
const ROOT = resolve(import.meta.dir, "..");
const WANT: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).packageManager.split("@")[1];
let dir: string;
let tools: string;

/** A `bun` reporting `version`, which otherwise says which version ran with which arguments. */
function fakeBun(folder: string, version: string): void {
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, "bun"), `#!/bin/sh\nif [ "$1" = --version ]; then echo ${version}; else echo "bun ${version}: $*"; fi\n`);
  chmodSync(join(folder, "bun"), 0o755);
}

/** A fresh copy of the scripts with a fake npm whose global prefix is `<case>/npm` (install: a pinned bun in its bin, unless `broken`). */
function scene(name: string, opts: { broken?: boolean } = {}) {
  const root = join(dir, name);
  mkdirSync(join(root, ".ci"), { recursive: true });
  for (const f of [".ci/ensure-bun", ".ci/demo", "package.json"]) cpSync(join(ROOT, f), join(root, f));
  const prefix = join(root, "npm");
  const npmBin = join(prefix, "bin");
  const npmLog = join(root, "npm.log");
  mkdirSync(npmBin, { recursive: true });
  const install = opts.broken ? ":" : `printf '#!/bin/sh\\nif [ "$1" = --version ]; then echo ${WANT}; else echo "bun ${WANT}: $*"; fi\\n' > ${npmBin}/bun; chmod +x ${npmBin}/bun`;
  writeFileSync(join(npmBin, "npm"), `#!/bin/sh\necho "$*" >> ${npmLog}\ncase "$1" in\n  prefix) echo ${prefix} ;;\n  install) ${install} ;;\nesac\n`);
  chmodSync(join(npmBin, "npm"), 0o755);
  const npmCalls = () => (existsSync(npmLog) ? readFileSync(npmLog, "utf8").trim().split("\n") : []);
  return { root, npmBin, npmCalls };
}

async function sh(cwd: string, path: string[], script: string) {
  const proc = Bun.spawn(["bash", "-c", script], { cwd, env: { PATH: [...path, tools].join(":"), HOME: cwd }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout: stdout.trim(), stderr: stderr.trim() };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "tollgate-ensure-bun-"));
  tools = join(dir, "tools");
  mkdirSync(tools);
  for (const t of ["node", "bash", "sh", "env", "dirname", "chmod", "cat"]) symlinkSync(Bun.which(t)!, join(tools, t));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("run on its own with an older Bun first in PATH: installs the pinned one, then fails naming both folders", async () => {
  const s = scene("run-shadowed");
  fakeBun(join(s.root, "old"), "1.0.0");
  const r = await sh(s.root, [join(s.root, "old"), s.npmBin], "bash .ci/ensure-bun && bun --version");
  expect(r.code).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr).toContain(`the bun in PATH is ${join(s.root, "old", "bun")} (version 1.0.0), not bun ${WANT}, which npm installed in ${s.npmBin}`);
  expect(r.stderr).toContain(`export PATH="${s.npmBin}:$PATH"`);
  expect(s.npmCalls()).toEqual([`install -g bun@${WANT}`, "prefix -g"]);
});

test("sourced with an older Bun first in PATH: npm's global bin is put first, the next `bun` is the pinned one", async () => {
  const s = scene("sourced-shadowed");
  fakeBun(join(s.root, "old"), "1.0.0");
  // Sourced, it leaves the caller's shell options (errexit) as they were.
  const r = await sh(s.root, [join(s.root, "old"), s.npmBin], `. .ci/ensure-bun && bun --version && case $- in *e*) echo errexit;; esac`);
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: WANT });
  expect(r.stderr).toContain(`${s.npmBin} (bun ${WANT}) put first in PATH`);
});

test("npm run demo's script with an older Bun first in PATH: install and demo run on the pinned Bun, with the flags", async () => {
  const s = scene("demo-shadowed");
  fakeBun(join(s.root, "old"), "1.0.0");
  const r = await sh(s.root, [join(s.root, "old"), s.npmBin], "bash .ci/demo --db ./demo.db");
  expect(r.code).toBe(0);
  expect(r.stdout.split("\n")).toEqual([`bun ${WANT}: install --frozen-lockfile`, `bun ${WANT}: src/index.ts demo --db ./demo.db`]);
});

test("a fresh machine (no Bun) and a machine with the pinned Bun: installed once, then left alone", async () => {
  const s = scene("fresh");
  const first = await sh(s.root, [s.npmBin], "bash .ci/ensure-bun && bun --version");
  expect({ code: first.code, stdout: first.stdout }).toEqual({ code: 0, stdout: WANT });
  const again = await sh(s.root, [s.npmBin], "bash .ci/ensure-bun && bun --version");
  expect({ code: again.code, stdout: again.stdout, stderr: again.stderr }).toEqual({ code: 0, stdout: WANT, stderr: "" });
  expect(s.npmCalls()).toEqual([`install -g bun@${WANT}`]);
});

test("npm's global bin without the pinned Bun after installing: fails, run or sourced, naming the bun in PATH and the folder", async () => {
  const s = scene("broken", { broken: true });
  fakeBun(join(s.root, "old"), "1.0.0");
  for (const script of ["bash .ci/ensure-bun && bun --version", ". .ci/ensure-bun && bun --version"]) {
    const r = await sh(s.root, [join(s.root, "old"), s.npmBin], script);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: "" });
    expect(r.stderr).toContain(`the bun in PATH is ${join(s.root, "old", "bun")} (version 1.0.0) and npm's global bin ${s.npmBin} has no bun ${WANT}`);
  }
});
