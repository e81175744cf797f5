/**
 * No promise is dropped on the floor in src/: a call whose result is a Promise, used as a
 * statement, must be awaited, returned, or marked `void` when nobody should wait for it. A
 * forgotten `await` on a store call would let a 404 or a failed write pass unseen.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import ts from "typescript5";

test("every promise in src/ is awaited, returned, or explicitly voided", () => {
  const root = join(import.meta.dir, "..");
  const configPath = ts.findConfigFile(root, ts.sys.fileExists, "tsconfig.json")!;
  const parsed = ts.parseJsonConfigFileContent(ts.readConfigFile(configPath, ts.sys.readFile).config, ts.sys, root);
  const program = ts.createProgram(parsed.fileNames.filter((f) => f.includes("/src/")), parsed.options);
  const checker = program.getTypeChecker();
  const found: string[] = [];
  const isPromise = (t: ts.Type): boolean => {
    if (t.isUnion()) return t.types.some(isPromise);
    const name = t.getSymbol()?.getName();
    return name === "Promise";
  };
  // `p.catch(f)` and `p.then(f, g)` handle their own rejection: nothing floats.
  const handled = (e: ts.CallExpression | ts.NewExpression): boolean => {
    if (!ts.isCallExpression(e) || !ts.isPropertyAccessExpression(e.expression)) return false;
    const method = e.expression.name.text;
    return method === "catch" || (method === "then" && e.arguments.length === 2);
  };
  for (const sf of program.getSourceFiles()) {
    if (!sf.fileName.includes("/src/") || sf.isDeclarationFile) continue;
    const visit = (node: ts.Node) => {
      if (ts.isExpressionStatement(node)) {
        const e = node.expression;
        if ((ts.isCallExpression(e) || ts.isNewExpression(e)) && isPromise(checker.getTypeAtLocation(e)) && !handled(e)) {
          const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
          found.push(`${sf.fileName.slice(root.length + 1)}:${line + 1}: ${node.getText().slice(0, 80)}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  expect(found).toEqual([]);
}, 60_000);
