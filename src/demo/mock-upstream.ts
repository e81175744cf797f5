/**
 * A MOCK OpenAI-compatible upstream: canned text, real protocol. Used by `tollgate demo` (so a
 * newcomer sees streaming and billing offline), by the tests (with per-request fault injection)
 * and by the benchmarks. Behaviour comes from the server's defaults, overridden per request by a
 * `mock` object in the request body (the gateway forwards unknown fields untouched).
 */
export interface MockBehavior {
  /** Output tokens to generate (one per chunk); default 12. */
  completion_tokens?: number;
  reasoning_tokens?: number;
  cached_tokens?: number;
  /** Default: about a token per four characters of the messages. */
  prompt_tokens?: number;
  /** "openai": completion includes reasoning; "xai": excludes it, total adds it; "none": no usage. */
  usage?: "openai" | "xai" | "none";
  /** Wait before answering (ms). */
  delay_ms?: number;
  /** Wait between stream chunks (ms). */
  chunk_delay_ms?: number;
  /** Answer with this status and `error_body` instead of a completion. */
  status?: number;
  error_body?: unknown;
  retry_after?: string;
  /** Never answer ("headers") or stop sending after `after_chunks` chunks ("body"). */
  hang?: "headers" | "body";
  /** Cut the connection after this many chunks. */
  drop_after_chunks?: number;
  /** Send a malformed chunk after this many chunks. */
  malformed_after_chunks?: number;
  after_chunks?: number;
  text?: string;
  /**
   * Only the first N requests carrying this same `mock` object (per server) get its faults
   * (status, hang, delay, drop, malformed); later ones are answered normally. Retries of one
   * request carry the same object, so `fail_times: 1` fails the first attempt only.
   */
  fail_times?: number;
  /** The faults apply only to requests made with this upstream key (Bearer); others are answered normally. */
  only_key?: string;
}

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

const WORDS = "Tollgate meters every token exactly and charges it to the micro credit".split(" ");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function promptTokens(body: Record<string, unknown>): number {
  return Math.max(1, Math.ceil(JSON.stringify(body.messages ?? "").length / 4));
}

export function mockUsage(b: MockBehavior, body: Record<string, unknown>) {
  const prompt = b.prompt_tokens ?? promptTokens(body);
  const completion = b.completion_tokens ?? 12;
  const reasoning = b.reasoning_tokens ?? 0;
  const cached = Math.min(b.cached_tokens ?? 0, prompt);
  const xai = b.usage === "xai";
  return {
    prompt_tokens: prompt,
    completion_tokens: xai ? completion : completion + reasoning,
    total_tokens: prompt + completion + reasoning,
    prompt_tokens_details: { cached_tokens: cached },
    completion_tokens_details: { reasoning_tokens: reasoning },
  };
}

/** Like a real model, the output (reasoning included) never exceeds max_tokens per choice. */
function clampToMaxTokens(b: MockBehavior, body: Record<string, unknown>): MockBehavior {
  // Usage sums every choice, so with n choices the total may reach n × max_tokens.
  const limit = Number(body.max_completion_tokens ?? body.max_tokens ?? Number.POSITIVE_INFINITY) * Number(body.n ?? 1);
  if (!Number.isFinite(limit)) return b;
  const reasoning = Math.min(b.reasoning_tokens ?? 0, limit);
  return { ...b, reasoning_tokens: reasoning, completion_tokens: Math.min(b.completion_tokens ?? 12, limit - reasoning) };
}

function tokenText(b: MockBehavior, i: number): string {
  if (b.text) return i === 0 ? b.text : "";
  return (i === 0 ? "" : " ") + WORDS[i % WORDS.length];
}

export function startMockUpstream(opts: { port?: number; hostname?: string; defaults?: MockBehavior } = {}): MockUpstream {
  const requests: MockRequest[] = [];
  let aborted = 0;
  let open = 0;
  let seq = 0;
  let defaults: MockBehavior = { ...opts.defaults };
  const failures = new Map<string, number>();
  /** Strips the faults once a `fail_times` fault has been served that many times. */
  const faultsLeft = (b: MockBehavior, raw: unknown, auth: string | null): MockBehavior => {
    const healthy = () => {
      const h = { ...b };
      for (const f of FAULTS) delete h[f];
      return h;
    };
    if (b.only_key !== undefined && auth !== `Bearer ${b.only_key}`) return healthy();
    if (b.fail_times === undefined) return b;
    const key = JSON.stringify(raw ?? defaults);
    const seen = failures.get(key) ?? 0;
    failures.set(key, seen + 1);
    return seen < b.fail_times ? b : healthy();
  };

  const server = Bun.serve({
    port: opts.port ?? 0,
    hostname: opts.hostname ?? "127.0.0.1",
    idleTimeout: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method === "GET" && url.pathname.endsWith("/models")) {
        return Response.json({ object: "list", data: [{ id: "mock-model", object: "model", created: 0, owned_by: "mock" }] });
      }
      if (req.method !== "POST" || !url.pathname.endsWith("/chat/completions")) return new Response("not found", { status: 404 });
      const body = (await req.json()) as Record<string, unknown>;
      requests.push({ body, headers: Object.fromEntries(req.headers) });
      const b = clampToMaxTokens(faultsLeft({ ...defaults, ...(body.mock as MockBehavior | undefined) }, body.mock, req.headers.get("authorization")), body);
      const id = `chatcmpl-mock-${++seq}`;
      const created = Math.floor(Date.now() / 1000);
      const model = String(body.model);

      open++;
      let counted = false;
      const close = (wasAborted: boolean) => {
        if (counted) return;
        counted = true;
        open--;
        if (wasAborted) aborted++;
      };
      req.signal.addEventListener("abort", () => close(true), { once: true });

      if (b.hang === "headers") {
        await new Promise<void>((r) => req.signal.addEventListener("abort", () => r(), { once: true }));
        return new Response(null, { status: 499 });
      }
      if (b.delay_ms) await sleep(b.delay_ms);
      if (b.status && b.status >= 400) {
        close(false);
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (b.retry_after) headers["retry-after"] = b.retry_after;
        return new Response(JSON.stringify(b.error_body ?? { error: { message: "mock failure", type: "server_error" } }), { status: b.status, headers });
      }
      const n = b.completion_tokens ?? 12;
      const usage = b.usage === "none" ? undefined : mockUsage(b, body);

      if (body.stream !== true) {
        close(false);
        let text = "";
        for (let i = 0; i < n; i++) text += tokenText(b, i);
        const choices = Array.from({ length: Number(body.n ?? 1) }, (_, index) => ({
          index,
          message: { role: "assistant", content: text, refusal: null },
          logprobs: null,
          finish_reason: "stop",
        }));
        return Response.json(
          { id, object: "chat.completion", created, model, choices, usage, system_fingerprint: "fp_mock" },
          { headers: { "x-request-id": `upstream-${id}` } },
        );
      }

      const wantUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
        `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
      const enc = new TextEncoder();
      let i = 0;
      let phase: "role" | "tokens" | "finish" | "usage" | "done" | "closed" = "role";
      const stream = new ReadableStream<Uint8Array>({
        async pull(ctrl) {
          if (b.chunk_delay_ms && phase !== "role") await sleep(b.chunk_delay_ms);
          const after = b.after_chunks ?? b.drop_after_chunks ?? b.malformed_after_chunks ?? 0;
          if (phase === "tokens" && i >= after) {
            if (b.hang === "body") {
              await new Promise<void>((r) => req.signal.addEventListener("abort", () => r(), { once: true }));
              return;
            }
            if (b.drop_after_chunks !== undefined) {
              // Let what was sent reach the client first: a real drop happens after delivery.
              await sleep(30);
              close(false);
              ctrl.error(new Error("mock: connection dropped"));
              return;
            }
            if (b.malformed_after_chunks !== undefined) {
              ctrl.enqueue(enc.encode('data: {"id": "broken", "choices": [\n\n'));
              b.malformed_after_chunks = undefined;
              b.after_chunks = Number.MAX_SAFE_INTEGER;
              return;
            }
          }
          switch (phase) {
            case "role":
              ctrl.enqueue(enc.encode(chunk({ role: "assistant", content: "" })));
              phase = n > 0 ? "tokens" : "finish";
              return;
            case "tokens":
              ctrl.enqueue(enc.encode(chunk({ content: tokenText(b, i) })));
              if (++i >= n) phase = "finish";
              return;
            case "finish":
              ctrl.enqueue(enc.encode(chunk({}, "stop")));
              phase = wantUsage && usage ? "usage" : "done";
              return;
            case "usage":
              ctrl.enqueue(enc.encode(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage })}\n\n`));
              phase = "done";
              return;
            case "done":
              ctrl.enqueue(enc.encode("data: [DONE]\n\n"));
              phase = "closed";
              close(false);
              ctrl.close();
              return;
          }
        },
        cancel() {
          close(true);
        },
      });
      return new Response(stream, {
        headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-request-id": `upstream-${id}` },
      });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    port: server.port!,
    requests,
    get aborted() {
      return aborted;
    },
    setDefaults(b: MockBehavior) {
      defaults = { ...b };
    },
    get open() {
      return open;
    },
    stop: async () => {
      await server.stop(true);
    },
  };
}
