/** One CSV cell: quoted when needed, and spreadsheet formulas in free-text cells defused. */
export function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? "" : String(v);
  const safe = /^[=+\-@\t\r]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** CSV lines (CRLF, as RFC 4180) from a header and rows of cells. */
export const csvLines = (header: readonly string[], rows: readonly (readonly unknown[])[]): string =>
  [header, ...rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
