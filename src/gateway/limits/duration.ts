/**
 * A duration in OpenAI's x-ratelimit-reset-* format (Go's time.Duration notation, millisecond
 * precision): "0s", "120ms", "1s", "1.5s", "6m0s", "1h2m3.25s".
 */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return "0s";
  if (total < 1000) return `${total}ms`;
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = (total % 60_000) / 1000;
  const sec = `${String(Math.floor(s))}${s % 1 ? `.${String(total % 1000).padStart(3, "0").replace(/0+$/, "")}` : ""}s`;
  if (h) return `${h}h${m}m${sec}`;
  if (m) return `${m}m${sec}`;
  return sec;
}
