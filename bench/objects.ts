import { heapStats } from "bun:jsc";

/**
 * Objects a handler allocates per request, by JavaScriptCore's cell type: a full collection, the
 * heap's type counts, `n` requests (10 at a time) too few to start a collection, the counts again.
 * JavaScriptCore counts a cell allocated since the last collection as live, so the difference is
 * what the requests allocated, garbage included. Used by `bun bench/hot-path.ts --objects`.
 */
export async function objectsPerRequest(handler: (r: Request) => Promise<Response>, request: () => Request, n = 600): Promise<Map<string, number>> {
  Bun.gc(true);
  const before = heapStats().objectTypeCounts as Record<string, number>;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      for (let i = 0; i < n / 10; i++) await (await handler(request())).text();
    }),
  );
  const after = heapStats().objectTypeCounts as Record<string, number>;
  const per = new Map<string, number>();
  for (const [type, count] of Object.entries(after)) {
    const d = (count - (before[type] ?? 0)) / n;
    if (d >= 0.5) per.set(type, d);
  }
  return per;
}

/** Two handlers' counts side by side, the largest first, with their totals. */
export function objectsTable(a: Map<string, number>, b: Map<string, number>, names: [string, string]): string {
  const total = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0);
  const types = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => (b.get(y) ?? 0) - (b.get(x) ?? 0));
  const row = (t: string, x: number, y: number) => `| ${t} | ${x.toFixed(1)} | ${y.toFixed(1)} |`;
  return [`| objects per request | ${names[0]} | ${names[1]} |`, "|---|---:|---:|", row("all", total(a), total(b)), ...types.map((t) => row(t, a.get(t) ?? 0, b.get(t) ?? 0))].join("\n");
}
