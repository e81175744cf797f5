/**
 * The money floor in the report: what the money rules alone cost above the metering floor with
 * extras (bench/money-floor.ts, served by bench/json-proxy.ts with MONEY=1), and what Tollgate
 * adds above that, over the sockets in the same rounds and in process (bench/hot-path.ts --floor=money).
 */
import { f0, f1 } from "./format";
import { median } from "./load";
import type { Check, InProcess, RoundData } from "./report";

type Mode = "ns" | "st";
type InProcessPair = { ns: InProcess | null; st: InProcess | null };

/** Median over rounds of a's CPU per request minus b's, same round. */
const above = (rounds: RoundData[], a: "floor-money" | "tollgate", b: "floor-extras" | "floor-money", m: Mode) =>
  median(rounds.map((r) => (r[a]?.[m]?.cpuUs ?? NaN) - (r[b]?.[m]?.cpuUs ?? NaN)));

/** Two rows for the targets table, for reference: the money rules' own cost, and Tollgate above it. */
export function moneyChecks(rounds: RoundData[]): Check[] {
  if (!rounds.some((r) => r["floor-money"])) return [];
  const pair = (a: "floor-money" | "tollgate", b: "floor-extras" | "floor-money") => `${f0(above(rounds, a, b, "ns"))} / ${f0(above(rounds, a, b, "st"))} µs`;
  return [
    { name: "the money rules' own CPU: money floor above the floor with extras (non-streaming / streamed), for reference", threshold: "–", measured: pair("floor-money", "floor-extras"), pass: true },
    { name: "Tollgate's own CPU above the money floor (non-streaming / streamed), for reference", threshold: "–", measured: pair("tollgate", "floor-money"), pass: true },
  ];
}

/** The section of BENCHMARKS.md on the money floor (empty in results that have none). */
export function moneyText(rounds: RoundData[], inProcess: InProcessPair | undefined, moneyInProcess: InProcessPair | undefined): string {
  if (!rounds.some((r) => r["floor-money"])) return "";
  const cpu = (id: "floor-extras" | "floor-money" | "tollgate", m: Mode) => f0(median(rounds.map((r) => r[id]?.[m]?.cpuUs ?? NaN)));
  const socketRow = (label: string, m: Mode) =>
    `| ${label}, over sockets | ${cpu("floor-extras", m)} | ${cpu("floor-money", m)} | ${cpu("tollgate", m)} | **${f0(above(rounds, "floor-money", "floor-extras", m))}** | **${f0(above(rounds, "tollgate", "floor-money", m))}** |`;
  // In process the two floors come from separate runs of bench/hot-path.ts, each beside Tollgate:
  // the money rules' cost is the difference of their own-work medians.
  const ipRow = (label: string, m: Mode) => {
    const e = inProcess?.[m];
    const mf = moneyInProcess?.[m];
    if (!e || !mf) return `| ${label}, in process | – | – | – | – | – |`;
    return `| ${label}, in process | ${f1(e.floor)} | ${f1(mf.floor)} | ${f1(mf.tollgate)} | **${f1(e.own - mf.own)}** | **${f1(mf.own)}** |`;
  };
  return `
## The money floor

What the money rules alone cost, measured as a target of its own in the same rounds: **the money floor** (bench/money-floor.ts) is the metering floor with extras plus the least any gateway keeping Tollgate's money rules must do, written plainly: the key's hash looked up in memory, the balance checked and held in memory (no await between), the charge made durable in a journal (one write per event-loop turn) before the answer completes or the stream ends, then a ledger entry unique per request id, a usage row and the balance written to SQLite in batches of 16 with Tollgate's own schema and indexes, and one log line per request. No limits, budgets, plans, validation, retries, breakers or metrics. Tollgate above it is what those features and its structure cost.

| CPU µs per request | floor + extras | money floor | Tollgate | the money rules (money floor − floor + extras) | Tollgate above the money floor |
|---|---|---|---|---|---|
${socketRow("non-streaming", "ns")}
${socketRow("streamed", "st")}
${ipRow("non-streaming", "ns")}
${ipRow("streamed", "st")}

The target of 25 µs (non-streaming) above the floor with extras leaves the money rules' own cost in the first bold column, and every other feature in the second.
`;
}
