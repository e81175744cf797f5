/**
 * Where Tollgate's time goes: its CPU profile under load, samples grouped by module and package.
 * Method: docs/benchmarks.md and BENCHMARKS.md.
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { wrk } from "./load";
import { BODY, jsonHeaders, provision, startTollgate, type TollgateSetup } from "./targets";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

export interface ProfileShare {
  area: string;
  share: number;
}

export async function profileTollgate(o: { root: string; outDir: string; wrk: string; setup: TollgateSetup; serverCpu: string; loadCpu: string; seconds: number }): Promise<ProfileShare[]> {
  const dir = join(o.outDir, "profile");
  rmSync(dir, { recursive: true, force: true });
  // Its own database: the measured gateway's is left as it was.
  const cmd = ["bun", "--cpu-prof", `--cpu-prof-dir=${dir}`, join(o.root, "src/index.ts")];
  const { target: t, proc: p } = await startTollgate(cmd, o.setup, o.serverCpu, join(o.outDir, "profile.log"), { TOLLGATE_DB: join(dir, "profile.db") });
  t.headers = jsonHeaders((await provision(t.url)).key);
  await wrk(o.wrk, o.outDir, t, { body: BODY, connections: 50, seconds: o.seconds, cpu: o.loadCpu });
  p.kill("SIGINT");
  await p.exited;
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error("the profiler wrote no .cpuprofile");
  return shares(JSON.parse(readFileSync(join(dir, file), "utf8")));
}

function shares(profile: { nodes: ProfileNode[]; samples: number[] }): ProfileShare[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const counts = new Map<number, number>();
  for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  const areas = new Map<string, number>();
  let total = 0;
  for (const [id, n] of counts) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === "(idle)" || f.functionName === "(program)" || f.functionName === "(root)") continue;
    total += n;
    let area: string;
    if (!f.url) {
      let caller = "";
      for (let x = parent.get(id); x !== undefined; x = parent.get(x)) {
        const u = byId.get(x)!.callFrame.url;
        if (u) {
          caller = where(u);
          break;
        }
      }
      area = `native ${f.functionName || "(runtime)"}${caller ? ` ← ${caller}` : ""}`;
    } else {
      area = where(f.url);
    }
    areas.set(area, (areas.get(area) ?? 0) + n);
  }
  return [...areas].map(([area, n]) => ({ area, share: n / total })).sort((a, b) => b.share - a.share);
}

function where(url: string): string {
  if (url.includes("node_modules/")) return `library ${url.split("node_modules/")[1]!.split("/")[0]}`;
  const src = url.split("/src/")[1];
  if (src) return `src/${src.split("/").slice(0, src.startsWith("modules/") ? 2 : 1).join("/")}`;
  return url.replace(/^.*\//, "");
}
