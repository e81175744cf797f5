/** Load: wrk (closed loop, pinned to the load CPU) and a raw-socket probe for time to first token. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { HAS_TASKSET } from "./proc";
import { APIS, type BenchApi } from "./answers";
import { CHAT_PATH, type Target } from "./targets";

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  /** Socket errors plus non-2xx/3xx answers. */
  errors: number;
  /** Latency in microseconds. */
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

const luaString = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

function script(t: Target, body: string, delayMs: number, api: BenchApi): string {
  const headers = Object.entries({ ...t.headers, ...api.headers }).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`).join("\n");
  return `wrk.method = "POST"
wrk.body = ${luaString(body)}
${headers}
${delayMs > 0 ? `function delay() return ${delayMs} end` : ""}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"p50":%d,"p90":%d,"p99":%d,"mean":%.2f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
`;
}

let seq = 0;

/**
 * Runs wrk for `seconds` with `connections` (one thread: it has one CPU). With `delayMs`, each
 * connection waits that long after every response: a fixed offered rate of about
 * connections × 1000 / delayMs requests per second, independent of the target's speed.
 */
export async function wrk(
  bin: string,
  outDir: string,
  t: Target,
  o: { body: string; connections: number; seconds: number; delayMs?: number; cpu: string; api?: BenchApi },
): Promise<WrkResult> {
  const file = join(outDir, `wrk-${process.pid}-${seq++ % 8}.lua`);
  const api = o.api ?? APIS.chat;
  writeFileSync(file, script(t, o.body, o.delayMs ?? 0, api));
  const cmd = [bin, "-t1", `-c${o.connections}`, `-d${o.seconds}s`, "--timeout", "10s", "-s", file, t.url + api.path];
  const p = Bun.spawn(HAS_TASKSET ? ["taskset", "-c", o.cpu, ...cmd] : cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const m = /WRKJSON (\{.*\})/.exec(out);
  if (!m) throw new Error(`wrk against ${t.label} printed no result: ${out.slice(-300)} ${err.slice(-300)}`);
  const r = JSON.parse(m[1]!) as { requests: number; duration_us: number; errors: number; p50: number; p90: number; p99: number; mean: number };
  const seconds = r.duration_us / 1e6;
  return { requests: r.requests, seconds, rps: r.requests / seconds, errors: r.errors, p50: r.p50, p90: r.p90, p99: r.p99, mean: r.mean };
}

export interface TtftResult {
  /** Microseconds from sending the request to the first content token, and to the end. */
  ttftP50: number;
  ttftP99: number;
  totalP50: number;
  samples: number;
}

/**
 * Time to first token at concurrency 1 over one keep-alive connection: raw socket, so the
 * client adds no buffering of its own. The first token is the first `"content":"` with text.
 */
export async function ttftProbe(t: Target, body: string, count: number): Promise<TtftResult> {
  const url = new URL(t.url);
  const head = Object.entries({ ...t.headers, host: url.host, "content-length": String(Buffer.byteLength(body)) })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  const request = `POST ${CHAT_PATH} HTTP/1.1\r\n${head}\r\n${body}`;
  const ttft: number[] = [];
  const total: number[] = [];
  let buf = "";
  let sentAt = 0;
  let firstAt = 0;
  let resolveOne: (() => void) | null = null;
  let rejectOne: ((e: Error) => void) | null = null;
  const connecting = Bun.connect({
    hostname: url.hostname,
    port: Number(url.port),
    socket: {
      data(_s, d) {
        buf += d.toString("latin1");
        if (!firstAt && buf.includes('"content":"w')) firstAt = performance.now();
        // A proxy may answer chunked or, when it had the whole upstream body, with a length.
        const headEnd = buf.indexOf("\r\n\r\n");
        if (headEnd < 0) return;
        const length = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, headEnd));
        const complete = length ? buf.length >= headEnd + 4 + Number(length[1]) : buf.endsWith("0\r\n\r\n");
        if (complete) {
          const now = performance.now();
          if (!buf.startsWith("HTTP/1.1 200")) return rejectOne?.(new Error(`${t.label}: ${buf.slice(0, 200)}`));
          ttft.push((firstAt - sentAt) * 1000);
          total.push((now - sentAt) * 1000);
          resolveOne?.();
        }
      },
      close() {
        rejectOne?.(new Error(`${t.label} closed the connection`));
      },
    },
  });
  const socket = await Promise.race([
    connecting,
    Bun.sleep(10_000).then(() => {
      throw new Error(`${t.label}: could not connect within 10 s`);
    }),
  ]);
  try {
    for (let i = 0; i < count; i++) {
      buf = "";
      firstAt = 0;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${t.label}: no complete answer within 10 s: ${JSON.stringify(buf.slice(-300))}`)), 10_000);
        resolveOne = () => {
          clearTimeout(timer);
          resolve();
        };
        rejectOne = (e) => {
          clearTimeout(timer);
          reject(e);
        };
        sentAt = performance.now();
        socket.write(request);
      });
    }
  } finally {
    socket.end();
  }
  return { ttftP50: percentile(ttft, 50), ttftP99: percentile(ttft, 99), totalP50: percentile(total, 50), samples: ttft.length };
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const median = (xs: number[]) => {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
