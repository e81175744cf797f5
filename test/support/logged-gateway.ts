/**
 * An in-process gateway whose operator log is kept in memory (lines, request lines by id), and a
 * raw HTTP/1.1 client for requests fetch cannot make (dot segments, stalled chunked bodies).
 */
import { loadConfig } from "../../src/config/load";
import { createLog } from "../../src/lib/log";
import { buildRuntime, startServer } from "../../src/runtime/server";
import { ADMIN_TOKEN, gatewayClient, type GatewayClient } from "./gateway";
import { fakeCatalogue, SINGLE_SHOT, startFakeUpstream, type MockUpstream } from "./fake-upstream";

export type Line = Record<string, unknown> & { time: string; level: string; msg: string };

export interface LoggedGateway extends GatewayClient {
  upstream: MockUpstream;
  runtime: ReturnType<typeof buildRuntime>;
  port: number;
  /** Everything written to the operator's log (flushed). */
  out(): string;
  lines(): Line[];
  requestLines(id: string): Line[];
  stop(): Promise<void>;
}

export async function startLogged(config: Record<string, unknown> = {}, opts: { upstream?: MockUpstream } = {}): Promise<LoggedGateway> {
  const upstream = opts.upstream ?? startFakeUpstream();
  const cfg = loadConfig({
    env: {},
    overrides: { db_path: ":memory:", admin_token: ADMIN_TOKEN, ...fakeCatalogue(upstream.url), ...SINGLE_SHOT, log_format: "json", ...config },
  });
  let text = "";
  const log = createLog("json", (t) => void (text += t));
  const runtime = buildRuntime(cfg, { log });
  const server = startServer(runtime, { port: 0, hostname: "127.0.0.1" });
  const client = gatewayClient(server.url, ADMIN_TOKEN, { withStore: (fn) => fn(runtime.deps.store) });
  const out = () => {
    log.flush();
    return text;
  };
  const lines = () =>
    out()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Line);
  return {
    ...client,
    upstream,
    runtime,
    port: server.port,
    out,
    lines,
    requestLines: (id) => lines().filter((l) => l.msg === "request" && l.request_id === id),
    async stop() {
      await server.stop();
      runtime.deps.store.close();
      if (!opts.upstream) await upstream.stop();
    },
  };
}

/** A raw HTTP/1.1 request on a socket; the whole text of the answer (connection: close). */
export async function raw(port: number, head: string, body: string | Uint8Array = "", opts: { waitMs?: number; chunks?: (string | number)[] } = {}): Promise<string> {
  return await new Promise<string>((resolve, reject) => {
    let buf = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    void Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: async (s) => {
          s.write(head);
          if (body) s.write(body);
          if (opts.chunks) {
            for (const c of opts.chunks) {
              if (typeof c === "number") await Bun.sleep(c);
              else s.write(c);
            }
          }
          if (opts.waitMs) timer = setTimeout(() => s.end(), opts.waitMs);
        },
        data: (_s, d) => void (buf += d.toString()),
        close: () => {
          clearTimeout(timer);
          resolve(buf);
        },
        error: (_s, e) => reject(e),
      },
    });
  });
}

export function parseRaw(text: string): { status: number; headers: Record<string, string>; body: string } {
  const i = text.indexOf("\r\n\r\n");
  const headLines = text.slice(0, i).split("\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(headLines[0] ?? "")?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of headLines.slice(1)) {
    const c = l.indexOf(":");
    headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
  }
  let body = text.slice(i + 4);
  if (headers["transfer-encoding"] === "chunked") {
    let out = "";
    let rest = body;
    for (;;) {
      const n = rest.indexOf("\r\n");
      if (n < 0) break;
      const size = parseInt(rest.slice(0, n), 16);
      if (!size) break;
      out += rest.slice(n + 2, n + 2 + size);
      rest = rest.slice(n + 2 + size + 2);
    }
    body = out;
  }
  return { status, headers, body };
}
