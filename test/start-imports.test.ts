/**
 * What `serve` loads before its first request imports no node:* module but fs and path: Bun
 * loads each (node:net brings Node's streams, node:crypto its own module) into every gateway's
 * memory and start. A full run of the benchmark measured 3.5 MiB more RSS after start for
 * node:net and node:dns (docs/benchmarks.md). The start set is what src/index.ts and the CLI's
 * serve path import statically (Bun's own scanner: type imports and dynamic imports left out;
 * the web app, PostgreSQL and the other commands load on first use).
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../src");
const ALLOWED = new Set(["node:fs", "node:path"]);
const scanner = new Bun.Transpiler({ loader: "ts" });

/** Every node:* module the files statically reachable from `entries` import, with who imports it. */
function nodeModulesAtStart(entries: string[]): Map<string, string[]> {
  const seen = new Set<string>();
  const found = new Map<string, string[]>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, "utf8").replace(/^#!.*/, "");
    for (const i of scanner.scanImports(src)) {
      if (i.kind !== "import-statement") continue;
      if (i.path.startsWith("node:")) found.set(i.path, [...(found.get(i.path) ?? []), relative(SRC, file)]);
      if (!i.path.startsWith(".")) continue;
      const base = resolve(dirname(file), i.path);
      const next = [base, `${base}.ts`, `${base}/index.ts`].find((f) => f.endsWith(".ts") && existsSync(f));
      if (next) walk(next);
    }
  };
  for (const e of entries) walk(resolve(SRC, e));
  expect(seen.size).toBeGreaterThan(100);
  return found;
}

test("serve's start imports no node:* module beyond fs and path", () => {
  // src/index.ts loads cli/main.ts with an import() it always makes.
  const found = nodeModulesAtStart(["index.ts", "cli/main.ts"]);
  expect([...found].filter(([m]) => !ALLOWED.has(m))).toEqual([]);
});
