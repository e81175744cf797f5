/** The in-process part of the report: bench/hot-path.ts's figures, rendered under "Where Tollgate's time goes". */

/** CPU per request in process, without sockets: the floor's handler against the route (bench/hot-path.ts). */
export interface InProcess {
  floor: number;
  tollgate: number;
  own: number;
  rounds: number;
  requests: number;
}

/** The in-process measure (bench/hot-path.ts): the same work without sockets, so that its noise is far smaller. */
export function inProcessText(ip: { ns: InProcess | null; st: InProcess | null } | undefined): string {
  if (!ip || (!ip.ns && !ip.st)) return "";
  const row = (label: string, m: InProcess | null) => (m ? `| ${label} | ${m.floor.toFixed(1)} | ${m.tollgate.toFixed(1)} | **${m.own.toFixed(1)}** |` : `| ${label} | – | – | – |`);
  const m = ip.ns ?? ip.st!;
  const sizes = [ip.ns && `${ip.ns.requests.toLocaleString("en-US")} non-streaming`, ip.st && `${ip.st.requests.toLocaleString("en-US")} streamed`].filter(Boolean).join(", ");
  return `
In process, without sockets (\`bun bench/hot-path.ts [--stream]\`, pinned like the gateway, median of ${m.rounds} interleaved rounds of ${sizes} requests each, at concurrency 50): the chat route called directly, with every feature on and an upstream answered in memory, beside the metering floor's handler (with signal, timer, headers) on the same stub. What both would pay for sockets and Bun's HTTP client is left out, so the difference is the gateway's own JavaScript and SQLite work, measured with far less noise than the throughput runs above.

| CPU µs per request | floor + extras | Tollgate | Tollgate's own work |
|---|---|---|---|
${row("non-streaming", ip.ns)}
${row("streaming (24 events)", ip.st)}
`;
}
