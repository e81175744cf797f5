/** An upstream that streams exactly the chunks a test scripts (sleeps between them too), and a gateway in front of it. */
import { afterAll, beforeAll } from "bun:test";
import { fakeCatalogue, SINGLE_SHOT } from "./fake-upstream";
import { startGateway, type Gateway } from "./gateway";

export type Step = string | { sleep: number } | Uint8Array;
export interface Scripted {
  url: string;
  script: Step[];
  bodies: unknown[];
  stop(): void;
}

export function scriptedUpstream(): Scripted {
  const s: Scripted = { url: "", script: [], bodies: [], stop: () => {} };
  const enc = new TextEncoder();
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(req) {
      s.bodies.push(await req.json().catch(() => null));
      const steps = s.script;
      const body = new ReadableStream<Uint8Array>({
        async start(ctrl) {
          try {
            for (const st of steps) {
              if (typeof st === "object" && !(st instanceof Uint8Array)) await Bun.sleep(st.sleep);
              else ctrl.enqueue(typeof st === "string" ? enc.encode(st) : st);
            }
            ctrl.close();
          } catch {}
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    },
  });
  s.url = `http://127.0.0.1:${server.port}`;
  s.stop = () => server.stop(true);
  return s;
}

export async function gatewayOn(up: Scripted, kind: "openai" | "xai" = "xai", config: Record<string, unknown> = {}): Promise<Gateway> {
  return startGateway({ config: { ...fakeCatalogue(`${up.url}/v1`, kind), ...SINGLE_SHOT, ...config } });
}

export type Row = { status: number; cost_micros: number; error_code: string | null; prompt_tokens: number; cached_tokens: number; completion_tokens: number; estimated: number };
export const rowOf = (gw: Gateway, requestId: string): Row | null =>
  gw.runtime.deps.store.sqlite.query<Row, [string]>("SELECT * FROM usage_log WHERE request_id = ?").get(requestId) as Row | null;

export async function waitRow(gw: Gateway, id: string, ms = 5000): Promise<Row | null> {
  const end = Date.now() + ms;
  for (;;) {
    const r = rowOf(gw, id);
    if (r || Date.now() > end) return r;
    await Bun.sleep(20);
  }
}

export const post = (gw: Gateway, key: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${gw.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

export const ev = (name: string | null, data: unknown) => `${name ? `event: ${name}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;

/**
 * A scripted upstream and a gateway on it (`kind`'s provider, `config` merged), started before
 * the file's tests and stopped after: read `up` and `gw` inside tests.
 */
export function scriptedGateway(kind: "openai" | "xai", config: Record<string, unknown> = {}): { readonly up: Scripted; readonly gw: Gateway } {
  const ctx = {} as { up: Scripted; gw: Gateway };
  beforeAll(async () => {
    ctx.up = scriptedUpstream();
    ctx.gw = await gatewayOn(ctx.up, kind, config);
  });
  afterAll(async () => {
    await ctx.gw?.stop();
    ctx.up?.stop();
  });
  return ctx;
}

/** A web search's price in micros per call (xAI's list price, $5 per 1,000, the test catalogue's). */
export const WEB_SEARCH = 5_000;
/** A completed web search call item of a Responses answer, `i` its number. */
export const searchItem = (i: number) => ({ id: `ws_${i}`, type: "web_search_call", status: "completed", action: { type: "search", query: "q" } });
