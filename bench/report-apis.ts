/**
 * Responses and Messages beside chat: the same own-work targets, each API above its own
 * metering floor (bench/json-floor.ts on that API's answers), from throughput runs in the same
 * rounds as the rest, and from bench/hot-path.ts --api= in process.
 */
import { APIS, type ApiId } from "./answers";
import { f0, f1, times } from "./format";
import { median } from "./load";
import type { Check, InProcess } from "./report";
import type { Throughput } from "./scenarios";

/** The targets measured on every API: the runtime's floor, the metering floor with extras, Tollgate. */
export const API_TARGETS = ["bare", "floor-extras", "tollgate"] as const;
export type ApiTarget = (typeof API_TARGETS)[number];
/** The APIs measured beside chat completions. */
export const OTHER_APIS = ["responses", "messages"] as const satisfies readonly ApiId[];

export type ApiRound = Partial<Record<ApiTarget, { ns?: Throughput; st?: Throughput }>>;
export type ApiResults = Partial<Record<ApiId, { rounds: ApiRound[]; inProcess?: { ns: InProcess | null; st: InProcess | null } }>>;

type Mode = "ns" | "st";
const med = (rounds: ApiRound[], f: (r: ApiRound) => number | undefined) => median(rounds.map((r) => f(r) ?? NaN));
/** Median over rounds of Tollgate's CPU per request minus the floor's with extras, same round. */
const own = (rounds: ApiRound[], m: Mode) => med(rounds, (r) => (r.tollgate?.[m]?.cpuUs ?? NaN) - (r["floor-extras"]?.[m]?.cpuUs ?? NaN));
const ratio = (rounds: ApiRound[], id: ApiTarget, m: Mode) => med(rounds, (r) => (r[id]?.[m]?.rps ?? NaN) / (r.bare?.[m]?.rps ?? NaN));

export function apiChecks(apis: ApiResults | undefined): Check[] {
  const out: Check[] = [];
  for (const id of OTHER_APIS) {
    const a = apis?.[id];
    if (!a || a.rounds.length === 0) continue;
    for (const [m, limit, kind] of [["ns", 25, "non-streaming"], ["st", 40, "streamed"]] as const) {
      const v = own(a.rounds, m);
      const floor = `throughput ${ratio(a.rounds, "floor-extras", m).toFixed(2)}× with signal, timer, headers`;
      out.push({ name: `Tollgate's own CPU per ${kind} ${APIS[id].path} request above its floor with extras`, threshold: `≤ ${limit} µs`, measured: `${v.toFixed(0)} µs`, pass: v <= limit, floor });
    }
  }
  return out;
}

const LABELS: Record<ApiTarget, string> = { bare: "bare Bun proxy", "floor-extras": "metering floor + signal, timer, headers", tollgate: "Tollgate (all features on)" };

/** The section of BENCHMARKS.md on the other APIs (empty in results that have none). */
export function apisText(apis: ApiResults | undefined, connections: number): string {
  const measured = OTHER_APIS.filter((id) => apis?.[id]?.rounds.length);
  if (measured.length === 0) return "";
  const rows = measured.flatMap((id) => {
    const rounds = apis![id]!.rounds;
    return API_TARGETS.map((t) => {
      const cell = (m: Mode) => `${f0(med(rounds, (r) => r[t]?.[m]?.rps))} | ${times(ratio(rounds, t, m))} | ${f0(med(rounds, (r) => r[t]?.[m]?.cpuUs))}`;
      return `| ${APIS[id].path} | ${LABELS[t]} | ${cell("ns")} | ${cell("st")} |`;
    });
  });
  const ownRows = measured.map((id) => {
    const a = apis![id]!;
    const ip = a.inProcess;
    return `| ${APIS[id].path} | ${f0(own(a.rounds, "ns"))} | ${f0(own(a.rounds, "st"))} | ${f1(ip?.ns?.floor)} / ${f1(ip?.ns?.tollgate)} / **${f1(ip?.ns?.own)}** | ${f1(ip?.st?.floor)} / ${f1(ip?.st?.tollgate)} / **${f1(ip?.st?.own)}** |`;
  });
  return `
## Responses and Messages

The same measures for \`/v1/responses\` and \`/v1/messages\` (Anthropic's Messages), in the same rounds: the fake upstream answers each API's own shape (bench/answers.ts: the same 20 words and usage; a Responses stream carries ${APIS.responses.events.length} named events, a Messages stream ${APIS.messages.events.length}), and each API has its own metering floor: bench/json-proxy.ts parsing that API's request, answer and every event. Throughput at ${connections} connections:

| API | target | non-streaming req/s | ratio to bare | CPU µs/request | streaming req/s | ratio to bare | CPU µs/request |
|---|---|---|---|---|---|---|---|
${rows.join("\n")}

Tollgate's own CPU per request above that API's floor with extras (over sockets, medians of the rounds' differences), and in process (\`bun bench/hot-path.ts --api=… [--stream]\`: floor / Tollgate / own work, µs):

| API | own, non-streaming | own, streaming | in process, non-streaming | in process, streaming |
|---|---|---|---|---|
${ownRows.join("\n")}
`;
}
