/** What one mock server keeps between requests, and what every endpoint shares: faults, ids, errors. */
import type { MockBehavior } from "./mock-behavior";
import type { ImageModelInfo, LanguageModelInfo } from "./mock-models";
import type { Reply } from "./mock-stream";

export interface MockRequest {
  method: string;
  /** The URL's path, e.g. "/v1/chat/completions". */
  path: string;
  /** The JSON body ({} for none). */
  body: Record<string, unknown>;
  headers: Record<string, string>;
}

/** A deferred chat completion: pending until `readyAt`, forgotten at `forgetAt`. */
export interface Deferred {
  completion: unknown;
  readyAt: number;
  forgetAt: number;
}

/** A stored Responses object, with what continuing it costs. */
export interface StoredResponse {
  response: Record<string, unknown>;
  inputItems: Record<string, unknown>[];
  /** Its input and output tokens: the context a continuation reads again. */
  contextTokens: number;
}

export interface MockState {
  requests: MockRequest[];
  aborted: number;
  open: number;
  seq: number;
  defaults: MockBehavior;
  /** Requests seen per `mock` object (as JSON), for `fail_times`. */
  failures: Map<string, number>;
  deferred: Map<string, Deferred>;
  responses: Map<string, StoredResponse>;
  models: { language: LanguageModelInfo[]; image: ImageModelInfo[] };
}

/** One request being answered: the endpoint's handlers get this. */
export interface MockCall {
  req: Request;
  st: MockState;
  body: Record<string, unknown>;
  /** The behaviour: defaults, the request's `mock`, faults already applied or stripped. */
  b: MockBehavior;
  /** The path's parameter (an id), when the route has one. */
  param: string;
  /** Counts the response ended (see Reply.close). */
  close: Reply["close"];
}

const FAULTS = ["status", "error_body", "retry_after", "hang", "delay_ms", "drop_after_chunks", "malformed_after_chunks", "fail_stream"] as const;

/** The upstream key a request was made with: Bearer, or Anthropic's x-api-key. */
export function upstreamKey(req: Request): string | undefined {
  const auth = req.headers.get("authorization");
  if (auth?.startsWith("Bearer ")) return auth.slice(7);
  return req.headers.get("x-api-key") ?? undefined;
}

/** Strips the faults for other keys' requests, and once a `fail_times` fault was served that many times. */
export function faultsLeft(st: MockState, b: MockBehavior, raw: unknown, key: string | undefined): MockBehavior {
  if (b.only_key !== undefined && key !== b.only_key) return healthy(b);
  if (b.fail_times === undefined) return b;
  const id = JSON.stringify(raw ?? st.defaults);
  const seen = st.failures.get(id) ?? 0;
  st.failures.set(id, seen + 1);
  return seen < b.fail_times ? b : healthy(b);
}

function healthy(b: MockBehavior): MockBehavior {
  const h = { ...b };
  for (const f of FAULTS) delete h[f];
  return h;
}

/** Counts the response open until its first `close` (`aborted` too when the client went away). */
export function track(req: Request, st: MockState): Reply["close"] {
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

/** A Reply for a streamed answer: its id, creation time and model. */
export function replyOf(call: MockCall, id: string): Reply {
  return { id, created: Math.floor(Date.now() / 1000), model: String(call.body.model ?? "mock-model"), close: call.close };
}

export const hex = (bytes = 12) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A whole JSON answer: the response counts as ended at once. */
export function json(call: MockCall, data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  call.close(false);
  return Response.json(data, { status, headers });
}

/** The mock's failure (`status`): `error_body`, else an OpenAI-shaped envelope. */
export function errorResponse(b: MockBehavior, status: number, fallback: unknown = { error: { message: "mock failure", type: "server_error" } }): Response {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (b.retry_after) headers["retry-after"] = b.retry_after;
  return new Response(JSON.stringify(b.error_body ?? fallback), { status, headers });
}

/** xAI's 404 for an id it does not know (its errors are `{ code, error }`). */
export function notFound(call: MockCall, message: string): Response {
  return json(call, { code: "Some requested entity was not found", error: message }, 404);
}

/** xAI's 400 for a request it cannot read. */
export function badRequest(call: MockCall, message: string): Response {
  return json(call, { code: "Client specified an invalid argument", error: message }, 400);
}
