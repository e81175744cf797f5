import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { findCycle, importGraph, importSpecifiers } from "./support/import-graph";

/**
 * No import cycle among the files of src/: every module can be understood (and loaded) after
 * the ones it imports. What counts as an import: test/support/import-graph.ts.
 */
const SRC = resolve(import.meta.dir, "../src");

const show = (root: string, cycle: string[] | null) => (cycle ? cycle.map((f) => relative(root, f)).join(" → ") : null);

describe("src/ has no import cycle", () => {
  const { graph, unresolved } = importGraph(SRC);

  test("every relative import resolves to a file", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(unresolved).toEqual([]);
  });

  test("no file imports itself through other files", () => {
    const cycle = findCycle(graph);
    expect(show(SRC, cycle), `import cycle in src/: ${show(SRC, cycle)}`).toBeNull();
  });

  test("the scan sees every import Bun's own scanner sees (and the type-only ones it drops)", () => {
    const transpiler = new Bun.Transpiler({ loader: "ts" });
    let typeOnly = 0;
    for (const file of graph.keys()) {
      const src = readFileSync(file, "utf8").replace(/^#!.*/, ""); // src/index.ts starts with a shebang
      const ours = importSpecifiers(src);
      const bun = transpiler.scanImports(src).map((i) => i.path);
      for (const spec of bun) expect([relative(SRC, file), ours]).toEqual([relative(SRC, file), expect.arrayContaining([spec])]);
      typeOnly += ours.filter((s) => !bun.includes(s)).length;
    }
    expect(typeOnly).toBeGreaterThan(0);
    // The lazily loaded app is an edge: src/runtime/server.ts → src/runtime/app.ts.
    expect(graph.get(join(SRC, "runtime/server.ts"))).toContain(join(SRC, "runtime/app.ts"));
  });
});

describe("the checker itself", () => {
  test("finds each import form, and none in comments", () => {
    const src = [
      'import a from "./a";',
      'import type { B } from "./b";',
      'import {\n  type C,\n  c,\n} from "../c";',
      "export { d } from './d';",
      'export * as e from "./e";',
      'export type { F } from "./f";',
      'import "./g";',
      'const h = await import("./h");',
      "type I = typeof import('./i');",
      'import j from "./j.json" with { type: "json" };',
      'import k from "node:k";',
      '// import x from "./commented";',
      '/* import("./block") */',
      'const route = "/portal/*"; const re = /\\/\\*/; import l from "./l"; // */',
      "const t = `${`/*`}`; import m from \"./m\";",
      'const code = `import n from "./generated";`; const s = \'import o from "./quoted"\';',
      "const u = `a${ok ? `b${\"c\"}` : \"/*\"}d`; import p from './p';",
    ].join("\n");
    expect(importSpecifiers(src).sort()).toEqual(["../c", "./a", "./b", "./d", "./e", "./f", "./g", "./h", "./i", "./j.json", "./l", "./m", "./p", "node:k"]);
  });

  test("finds a cycle, through dynamic and type imports too, and names it", () => {
    const dir = mkdtempSync(join(tmpdir(), "tollgate-arch-"));
    try {
      writeFileSync(join(dir, "a.ts"), 'import { b } from "./b";\nexport const a = 1;');
      writeFileSync(join(dir, "b.ts"), 'import type { C } from "./c";\nexport const b = 2;');
      writeFileSync(join(dir, "c.ts"), 'export type C = number;\nexport const load = () => import("./a");');
      writeFileSync(join(dir, "d.ts"), 'import { a } from "./a";');
      const { graph, unresolved } = importGraph(dir);
      expect(unresolved).toEqual([]);
      expect(show(dir, findCycle(graph))).toBe("a.ts → b.ts → c.ts → a.ts");
      writeFileSync(join(dir, "c.ts"), "export type C = number;");
      expect(findCycle(importGraph(dir).graph)).toBeNull();
      writeFileSync(join(dir, "e.ts"), 'import "./missing";');
      expect(importGraph(dir).unresolved).toEqual(["e.ts: ./missing"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a file that imports itself is a cycle; a diamond is not", () => {
    expect(findCycle(new Map([["a", ["a"]]]))).toEqual(["a", "a"]);
    expect(findCycle(new Map([["a", ["b", "c"]], ["b", ["d"]], ["c", ["d"]], ["d", []]]))).toBeNull();
    expect(findCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["b"]]]))).toEqual(["b", "c", "b"]);
  });
});
