/** Figures as BENCHMARKS.md writes them: a dash for what was not measured. */
const known = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

export const f0 = (v: number | undefined) => (known(v) ? Math.round(v).toLocaleString("en-US") : "–");
export const f1 = (v: number | undefined) => (known(v) ? v.toFixed(1) : "–");
export const f2 = (v: number | undefined) => (known(v) ? v.toFixed(2) : "–");
/** A ratio (1.23×), or a dash. */
export const times = (v: number | undefined) => (known(v) ? `${v.toFixed(2)}×` : "–");
