/**
 * One CSV cell: quoted when needed, and spreadsheet formulas in free-text cells defused. Only a
 * cell that is a plain number (as the exports write amounts: "-0.25") keeps its leading minus:
 * anything more after it, as in "-1+cmd|...", a spreadsheet would run as a formula.
 */
export function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? "" : String(v);
  const safe = /^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** CSV lines (CRLF, as RFC 4180) from a header and rows of cells. */
export const csvLines = (header: readonly string[], rows: readonly (readonly unknown[])[]): string =>
  [header, ...rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
