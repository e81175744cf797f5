/**
 * A MOCK xAI upstream (OpenAI-compatible and more): canned text, real protocols. Used by
 * `tollgate demo` (so a newcomer sees streaming and billing offline) and by the tests (with
 * per-request fault injection). Behaviour comes from the server's defaults, overridden per request
 * by a `mock` object in the request body (the gateway forwards unknown fields untouched); GET and
 * DELETE requests have no body, so only the defaults shape them.
 *
 * Endpoints (under the base URL, which plays https://api.x.ai/v1): POST /chat/completions (JSON,
 * SSE, `deferred: true`), GET /chat/deferred-completion/{id}, POST /completions, POST /responses,
 * GET and DELETE /responses/{id}, GET /responses/{id}/input_items, POST /messages, POST
 * /images/generations and /images/edits, POST /tokenize-text, GET /models, /language-models and
 * /image-generation-models (and each one by id). Every usage carries xAI's cost_in_usd_ticks at
 * the mock prices (mockCostTicks). The faults (status, error_body, retry_after, hang, delay_ms,
 * fail_times, only_key) apply to every endpoint; drop, malformed, fail_stream and chunk_delay_ms
 * to every stream.
 */
import { type MockBehavior } from "./mock-behavior";
import { chatCompletions, completions, deferredCompletion } from "./mock-chat";
import { images } from "./mock-images";
import { messages, messagesError } from "./mock-messages";
import { imageModel, imageModels, languageModel, languageModels, model, models, tokenize } from "./mock-misc";
import { defaultImageModels, defaultLanguageModels, type ImageModelInfo, type LanguageModelInfo } from "./mock-models";
import { createResponse, deleteResponse, getResponse, responseInputItems } from "./mock-responses";
import { type MockCall, type MockRequest, type MockState, badRequest, errorResponse, faultsLeft, track, upstreamKey } from "./mock-state";
import { sleep, untilAborted } from "./mock-stream";

export { clampOutput, costField, mockCostTicks, mockUsage, toolUsage, MOCK_PRICES, TICKS_PER_USD, type CostInputs, type MockBehavior, type MockModelPrices, type MockTools, type MockUsage } from "./mock-behavior";
export { languageModel as mockLanguageModel, perHundredMillionCents, type ImageModelInfo, type LanguageModelInfo } from "./mock-models";
export { TINY_PNG_BASE64 } from "./mock-images";
export type { MockRequest } from "./mock-state";

export interface MockUpstream {
  url: string;
  port: number;
  /** Every request received (method, path, body, headers), in order. */
  requests: MockRequest[];
  /** Requests whose client (the gateway) went away before the response ended. */
  readonly aborted: number;
  /** Responses currently open. */
  readonly open: number;
  /** Replaces the server's default behaviour (e.g. make one of two upstreams fail, then recover). */
  setDefaults(b: MockBehavior): void;
  /** Replaces the model lists (/language-models, /image-generation-models, and /models made from both). */
  setModels(lists: { language?: LanguageModelInfo[]; image?: ImageModelInfo[] }): void;
  stop(): Promise<void>;
}

interface Route {
  method: string;
  path: RegExp;
  handle(call: MockCall): Response | Promise<Response>;
  /** The failure answered for `status` (default: OpenAI-shaped). */
  error?: (b: MockBehavior, status: number) => Response;
}

const ID = "([^/]+)";
const route = (method: string, path: string, handle: Route["handle"], error?: Route["error"]): Route => ({ method, path: new RegExp(`(?:^|/)${path}$`), handle, error });

/** Matched by the end of the path, first match wins (chat/completions before completions). */
const ROUTES: Route[] = [
  route("POST", "chat/completions", chatCompletions),
  route("GET", `chat/deferred-completion/${ID}`, deferredCompletion),
  route("POST", "completions", completions),
  route("POST", "responses", createResponse),
  route("GET", `responses/${ID}/input_items`, responseInputItems),
  route("GET", `responses/${ID}`, getResponse),
  route("DELETE", `responses/${ID}`, deleteResponse),
  route("POST", "messages", messages, messagesError),
  route("POST", "images/generations", images),
  route("POST", "images/edits", images),
  route("POST", "tokenize-text", tokenize),
  route("GET", "language-models", languageModels),
  route("GET", `language-models/${ID}`, languageModel),
  route("GET", "image-generation-models", imageModels),
  route("GET", `image-generation-models/${ID}`, imageModel),
  route("GET", "models", models),
  route("GET", `models/${ID}`, model),
];

export function startMockUpstream(opts: { port?: number; hostname?: string; defaults?: MockBehavior } = {}): MockUpstream {
  const st: MockState = {
    requests: [],
    aborted: 0,
    open: 0,
    seq: 0,
    defaults: { ...opts.defaults },
    failures: new Map(),
    deferred: new Map(),
    responses: new Map(),
    models: { language: defaultLanguageModels(), image: defaultImageModels() },
  };
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
    setModels(lists) {
      if (lists.language) st.models.language = lists.language;
      if (lists.image) st.models.image = lists.image;
    },
    get open() {
      return st.open;
    },
    stop: async () => {
      await server.stop(true);
    },
  };
}

/** The body as JSON ({} for none); undefined when it is not JSON. */
async function readBody(req: Request): Promise<Record<string, unknown> | undefined> {
  const text = await req.text();
  if (text === "") return {};
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Records the request, applies the faults every endpoint shares, then lets the endpoint answer. */
async function handle(req: Request, st: MockState): Promise<Response> {
  const url = new URL(req.url);
  const body = await readBody(req);
  st.requests.push({ method: req.method, path: url.pathname, body: body ?? {}, headers: Object.fromEntries(req.headers) });
  const found = ROUTES.find((r) => r.method === req.method && r.path.test(url.pathname));
  if (!found) return new Response("not found", { status: 404 });
  const raw = body?.mock as MockBehavior | undefined;
  const b = faultsLeft(st, { ...st.defaults, ...raw }, raw, upstreamKey(req));
  const call: MockCall = { req, st, body: body ?? {}, b, param: decodeURIComponent(found.path.exec(url.pathname)?.[1] ?? ""), close: track(req, st) };

  if (b.hang === "headers") {
    await untilAborted(req.signal);
    return new Response(null, { status: 499 });
  }
  if (b.delay_ms) await sleep(b.delay_ms);
  if (b.status && b.status >= 400) {
    call.close(false);
    return (found.error ?? errorResponse)(b, b.status);
  }
  if (!body) return badRequest(call, "the body is not a JSON object");
  return found.handle(call);
}
