import type { Results, Summary } from "./report";
import type { TargetId } from "./targets";

/** Axis labels of the plot (the tables use the full labels). */
const SHORT: Partial<Record<TargetId, string>> = { bare: "bare proxy", floor: "floor", "floor-extras": "floor+extras", "floor-money": "money floor", tollgate: "Tollgate", nginx: "nginx", portkey: "Portkey" };

/** Two bar charts: throughput per target (non-streaming, streaming) and added latency at c=1. */
export function renderSvg(r: Results, s: Summary): string {
  const ts = r.targets.filter((t) => t.id !== "direct");
  const W = 860;
  const H = 360;
  const pad = { l: 60, r: 20, t: 40, b: 70 };
  const panelW = (W - pad.l - pad.r - 60) / 2;
  const colors = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"];
  const esc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  const panel = (x0: number, title: string, series: { name: string; values: number[] }[], unit: string, clip = false) => {
    const h = H - pad.t - pad.b;
    // With `clip`, an outlier (Portkey's time to first token) would flatten every other bar: bars
    // above ten times the median are cut at the top of the axis and carry their value.
    const all = series.flatMap((x) => x.values.filter(Number.isFinite)).sort((a, b) => a - b);
    const cap = clip ? 10 * Math.max(1, all[all.length >> 1] ?? 1) : Number.POSITIVE_INFINITY;
    const max = Math.max(1, ...all.filter((v) => v <= cap)) * 1.1;
    out.push(`<text x="${x0 + panelW / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
    for (let i = 0; i <= 4; i++) {
      const y = pad.t + h - (h * i) / 4;
      out.push(`<line x1="${x0}" x2="${x0 + panelW}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
      out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end" fill="#555">${Math.round((max * i) / 4).toLocaleString("en-US")}</text>`);
    }
    const group = panelW / ts.length;
    const bw = (group * 0.8) / series.length;
    ts.forEach((t, i) => {
      series.forEach((ser, j) => {
        const v = ser.values[i]!;
        if (!Number.isFinite(v)) return;
        const bh = (h * Math.min(Math.max(v, 0), max)) / max;
        const x = x0 + i * group + group * 0.1 + j * bw;
        out.push(`<rect x="${x.toFixed(1)}" y="${(pad.t + h - bh).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${bh.toFixed(1)}" fill="${colors[j]}"><title>${esc(`${t.label} ${ser.name}: ${Math.round(v)} ${unit}`)}</title></rect>`);
        if (v > max) out.push(`<text x="${(x + bw / 2).toFixed(1)}" y="${pad.t - 4}" text-anchor="middle" font-size="10">↑${Math.round(v).toLocaleString("en-US")}</text>`);
      });
      const label = SHORT[t.id] ?? t.label;
      out.push(`<text x="${x0 + i * group + group / 2}" y="${pad.t + h + 16}" text-anchor="middle">${esc(label)}</text>`);
    });
    series.forEach((ser, j) => {
      const lx = x0 + j * 125;
      out.push(`<rect x="${lx}" y="${H - 28}" width="12" height="12" fill="${colors[j]}"/><text x="${lx + 16}" y="${H - 18}">${esc(ser.name)}</text>`);
    });
  };
  const m = (id: string, k: string) => s.medians[id]?.[k] ?? NaN;
  panel(pad.l, "Throughput, req/s (50 connections)", [
    { name: "non-streaming", values: ts.map((t) => m(t.id, "ns_rps")) },
    { name: "streaming", values: ts.map((t) => m(t.id, "st_rps")) },
  ], "req/s");
  panel(pad.l + panelW + 60, "Added latency over the upstream, p50, µs", [
    { name: "concurrency 1", values: ts.map((t) => s.overDirect[t.id]?.c1_p50 ?? NaN) },
    { name: `~${Math.round((r.settings.rate.connections * 1000) / r.settings.rate.delayMs)} req/s`, values: ts.map((t) => s.overDirect[t.id]?.rate_p50 ?? NaN) },
    { name: "first token", values: ts.map((t) => s.overDirect[t.id]?.ttft_p50 ?? NaN) },
  ], "µs", true);
  out.push(`<text x="${W - 8}" y="${H - 4}" text-anchor="end" fill="#888" font-size="10">${esc(`${r.date.slice(0, 10)} · medians of ${r.settings.rounds} rounds · bun run bench${r.settings.quick ? ":quick" : ""}`)}</text>`);
  out.push("</svg>");
  return out.join("\n");
}
