/**
 * A MOCK OpenAI-compatible upstream: canned text, real protocol. Used by `tollgate demo` (so a
 * newcomer sees streaming and billing offline) and by the tests (with per-request fault
 * injection). Behaviour comes from the server's defaults, overridden per request by a `mock`
 * object in the request body (the gateway forwards unknown fields untouched).
 */
import { mockUsage, type MockBehavior, type MockUsage } from "./mock-behavior";
import { type Reply, sleep, mockStreamResponse, tokenText, untilAborted } from "./mock-stream";

export { mockUsage, type MockBehavior, type MockUsage } from "./mock-behavior";

const FAULTS = ["status", "error_body", "retry_after", "hang", "delay_ms", "drop_after_chunks", "malformed_after_chunks"] as const;

export interface MockRequest {
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

export interface MockUpstream {
  url: string;
  port: number;
  requests: MockRequest[];
  /** Requests whose client (the gateway) went away before the response ended. */
  readonly aborted: number;
  /** Responses currently open. */
  readonly open: number;
  /** Replaces the server's default behaviour (e.g. make one of two upstreams fail, then recover). */
  setDefaults(b: MockBehavior): void;
  stop(): Promise<void>;
}

/** What one server keeps between requests. */
interface MockState {
  requests: MockRequest[];
  aborted: number;
  open: number;
  seq: number;
  defaults: MockBehavior;
  /** Requests seen per `mock` object (as JSON), for `fail_times`. */
  failures: Map<string, number>;
}

/** Like a real model, the output (reasoning included) never exceeds max_tokens per choice. */
function clampToMaxTokens(b: MockBehavior, body: Record<string, unknown>): MockBehavior {
  if (b.reasoning_beyond_max_tokens) return b;
  // Usage sums every choice, so with n choices the total may reach n × max_tokens.
  const limit = Number(body.max_completion_tokens ?? body.max_tokens ?? Number.POSITIVE_INFINITY) * Number(body.n ?? 1);
  if (!Number.isFinite(limit)) return b;
  const reasoning = Math.min(b.reasoning_tokens ?? 0, limit);
  return { ...b, reasoning_tokens: reasoning, completion_tokens: Math.min(b.completion_tokens ?? 12, limit - reasoning) };
}

export function startMockUpstream(opts: { port?: number; hostname?: string; defaults?: MockBehavior } = {}): MockUpstream {
  const st: MockState = { requests: [], aborted: 0, open: 0, seq: 0, defaults: { ...opts.defaults }, failures: new Map() };
  const server = Bun.serve({
    port: opts.port ?? 0,
    hostname: opts.hostname ?? "127.0.0.1",
    idleTimeout: 0,
    fetch: (req) => handle(req, st),
  });

  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    port: server.port!,
    requests: st.requests,
    get aborted() {
      return st.aborted;
    },
    setDefaults(b: MockBehavior) {
      st.defaults = { ...b };
    },
    get open() {
      return st.open;
    },
    stop: async () => {
      await server.stop(true);
    },
  };
}

/** The model list, or a chat completion shaped by the server's defaults and the request's `mock`. */
async function handle(req: Request, st: MockState): Promise<Response> {
  const url = new URL(req.url);
  if (req.method === "GET" && url.pathname.endsWith("/models")) {
    return Response.json({ object: "list", data: [{ id: "mock-model", object: "model", created: 0, owned_by: "mock" }] });
  }
  if (req.method !== "POST" || !url.pathname.endsWith("/chat/completions")) return new Response("not found", { status: 404 });
  const body = (await req.json()) as Record<string, unknown>;
  st.requests.push({ body, headers: Object.fromEntries(req.headers) });
  const b = clampToMaxTokens(faultsLeft(st, { ...st.defaults, ...(body.mock as MockBehavior | undefined) }, body.mock, req.headers.get("authorization")), body);
  const reply: Reply = { id: `chatcmpl-mock-${++st.seq}`, created: Math.floor(Date.now() / 1000), model: String(body.model), close: track(req, st) };

  if (b.hang === "headers") {
    await untilAborted(req.signal);
    return new Response(null, { status: 499 });
  }
  if (b.delay_ms) await sleep(b.delay_ms);
  if (b.status && b.status >= 400) {
    reply.close(false);
    return errorResponse(b, b.status);
  }
  const usage = b.usage === "none" ? undefined : mockUsage(b, body);
  if (body.stream !== true) {
    reply.close(false);
    return completionResponse(b, body, reply, usage);
  }
  return mockStreamResponse(b, body, reply, usage, req.signal);
}

/** Strips the faults for other keys' requests, and once a `fail_times` fault was served that many times. */
function faultsLeft(st: MockState, b: MockBehavior, raw: unknown, auth: string | null): MockBehavior {
  if (b.only_key !== undefined && auth !== `Bearer ${b.only_key}`) return healthy(b);
  if (b.fail_times === undefined) return b;
  const key = JSON.stringify(raw ?? st.defaults);
  const seen = st.failures.get(key) ?? 0;
  st.failures.set(key, seen + 1);
  return seen < b.fail_times ? b : healthy(b);
}

function healthy(b: MockBehavior): MockBehavior {
  const h = { ...b };
  for (const f of FAULTS) delete h[f];
  return h;
}

/** Counts the response open until its first `close` (`aborted` too when the client went away). */
function track(req: Request, st: MockState): Reply["close"] {
  st.open++;
  let counted = false;
  const close = (wasAborted: boolean) => {
    if (counted) return;
    counted = true;
    st.open--;
    if (wasAborted) st.aborted++;
  };
  req.signal.addEventListener("abort", () => close(true), { once: true });
  return close;
}

function errorResponse(b: MockBehavior, status: number): Response {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (b.retry_after) headers["retry-after"] = b.retry_after;
  return new Response(JSON.stringify(b.error_body ?? { error: { message: "mock failure", type: "server_error" } }), { status, headers });
}

function completionResponse(b: MockBehavior, body: Record<string, unknown>, reply: Reply, usage: MockUsage | undefined): Response {
  const n = b.completion_tokens ?? 12;
  let text = "";
  for (let i = 0; i < n; i++) text += tokenText(b, i);
  const choices = Array.from({ length: Number(body.n ?? 1) }, (_, index) => ({
    index,
    message: { role: "assistant", content: text, refusal: null },
    logprobs: null,
    finish_reason: "stop",
  }));
  const { id, created, model } = reply;
  return Response.json(
    { id, object: "chat.completion", created, model, choices, usage, system_fingerprint: "fp_mock" },
    { headers: { "x-request-id": `upstream-${id}` } },
  );
}
