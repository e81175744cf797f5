/**
 * The import graph of a source tree, for test/architecture.test.ts. Counted as imports:
 * `import … from`, `import type … from`, `export … from`, `import "…"` and `import("…")`
 * (dynamic, or in a type), with a relative specifier, outside comments and string contents.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SCANNED = /\.(ts|tsx|mts|cts)$/;

/**
 * The source with comments blanked out (line breaks kept), so that commented-out imports do not
 * count, and so are the contents of strings (except right after `from`, `import` or `import(`),
 * template literals (their `${}` code kept) and regular expression literals: a "/*" or an
 * "import … from" inside them is neither a comment nor an import.
 */
export function stripComments(src: string): string {
  let out = "";
  let i = 0;
  /** Open template literals: for each, the `{` depth of its current `${…}`. */
  const templates: number[] = [];
  let last = ""; // last significant character outside strings and comments
  const regexMayStart = () => last === "" || "(,=:[!&|?{};+-*%<>~^".includes(last) || /\b(return|typeof|case|do|else|in|of|void|yield|await)$/.test(out.trimEnd());
  const blank = (s: string) => s.replace(/[^\n]/g, " ");
  const skipString = (quote: string) => {
    let j = i + 1;
    while (j < src.length && src[j] !== quote) j += src[j] === "\\" ? 2 : 1;
    const specifier = /\b(from|import)\s*$|\bimport\s*\(\s*$/.test(out);
    out += specifier ? src.slice(i, j + 1) : quote + blank(src.slice(i + 1, j)) + quote;
    i = j + 1;
    last = quote;
  };
  /** From inside a template literal (at i) to its end or to a `${`. */
  const skipTemplate = () => {
    let j = i;
    while (j < src.length && src[j] !== "`" && !(src[j] === "$" && src[j + 1] === "{")) j += src[j] === "\\" ? 2 : 1;
    if (src[j] === "`") {
      out += blank(src.slice(i, j)) + "`";
      i = j + 1;
      last = "`";
    } else {
      out += blank(src.slice(i, j)) + "${";
      i = j + 2;
      templates.push(0);
      last = "{";
    }
  };
  while (i < src.length) {
    const c = src[i]!;
    const next = src[i + 1];
    if (c === "/" && next === "/") {
      const end = src.indexOf("\n", i);
      const stop = end < 0 ? src.length : end;
      out += blank(src.slice(i, stop));
      i = stop;
    } else if (c === "/" && next === "*") {
      const end = src.indexOf("*/", i + 2);
      const stop = end < 0 ? src.length : end + 2;
      out += blank(src.slice(i, stop));
      i = stop;
    } else if (c === '"' || c === "'") {
      skipString(c);
    } else if (c === "`") {
      out += c;
      i++;
      skipTemplate();
    } else if (c === "/" && regexMayStart()) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && src[j] !== "\n" && (inClass || src[j] !== "/")) {
        if (src[j] === "\\") j++;
        else if (src[j] === "[") inClass = true;
        else if (src[j] === "]") inClass = false;
        j++;
      }
      out += `/${blank(src.slice(i + 1, j))}/`;
      i = j + 1;
      last = "/";
    } else {
      if (templates.length > 0 && c === "{") templates[templates.length - 1]!++;
      if (templates.length > 0 && c === "}") {
        if (templates[templates.length - 1] === 0) {
          templates.pop();
          out += c;
          i++;
          skipTemplate();
          continue;
        }
        templates[templates.length - 1]!--;
      }
      out += c;
      if (!/\s/.test(c)) last = c;
      i++;
    }
  }
  return out;
}

const IMPORT_FORMS = [
  // import x from "…", import type { X } from "…", export { x } from "…", export * from "…"
  /\b(?:import|export)\s+(?:type\s+)?[^'"`;()]*?\bfrom\s*(["'])([^"'\n]+)\1/g,
  // import "…" (for its side effects)
  /\bimport\s*(["'])([^"'\n]+)\1/g,
  // import("…"): dynamic, or a type (typeof import("…"))
  /\bimport\s*\(\s*(["'])([^"'\n]+)\1\s*\)/g,
];

/** The specifiers a source imports (every form above; relative or not). */
export function importSpecifiers(src: string): string[] {
  const code = stripComments(src);
  const found: string[] = [];
  for (const form of IMPORT_FORMS) for (const m of code.matchAll(form)) found.push(m[2]!);
  return found;
}

/** The file a relative specifier names, as the bundler resolves it; null when there is none. */
export function resolveImport(from: string, specifier: string): string | null {
  const base = resolve(dirname(from), specifier);
  const candidates = [base, `${base}.ts`, `${base}.tsx`, join(base, "index.ts"), base.replace(/\.js$/, ".ts")];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? null;
}

/** A cycle in `graph` as the path that closes it (first node repeated at the end), or null. */
export function findCycle(graph: Map<string, string[]>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string[] | null => {
    state.set(node, "open");
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next);
      if (s === "open") return [...path.slice(path.indexOf(next)), next];
      if (s === undefined) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    path.pop();
    state.set(node, "done");
    return null;
  };
  for (const node of [...graph.keys()].sort()) {
    if (state.has(node)) continue;
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

/** The import graph of the source files under `root` (edges to files under `root` only). */
export function importGraph(root: string): { graph: Map<string, string[]>; unresolved: string[] } {
  const files = readdirSync(root, { recursive: true, encoding: "utf8" })
    .map((f) => join(root, f))
    .filter((f) => SCANNED.test(f) && statSync(f).isFile());
  const graph = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const file of files) {
    const edges = new Set<string>();
    for (const spec of importSpecifiers(readFileSync(file, "utf8"))) {
      if (!spec.startsWith("./") && !spec.startsWith("../")) continue;
      const target = resolveImport(file, spec);
      if (target === null) unresolved.push(`${relative(root, file)}: ${spec}`);
      else if (!relative(root, target).startsWith("..")) edges.add(target);
    }
    graph.set(file, [...edges].sort());
  }
  return { graph, unresolved };
}
