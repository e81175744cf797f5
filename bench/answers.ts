/**
 * What the fake upstreams answer, byte for byte, for each benchmarked API: chat completions,
 * Responses and Anthropic's Messages, each a fixed answer of 20 words with its usage, whole or as
 * a stream of one event per word. bench/upstream.ts and bench/hot-path.ts serve these;
 * bench/upstream.c builds the same bytes in C, and the harness checks that they match
 * (bench/targets.ts, `checkUpstream`) before measuring anything.
 */
export type ApiId = "chat" | "responses" | "messages";

export interface BenchApi {
  id: ApiId;
  label: string;
  path: string;
  /** The client's request bodies. */
  body: string;
  streamBody: string;
  /** Request headers the API wants beside the key. */
  headers: Record<string, string>;
  /** The upstream's non-streaming answer. */
  answer: string;
  /** The upstream's stream, one event each; `usageEvent` is sent only when the request asks for usage. */
  events: string[];
  usageEvent?: number;
  /** Seen in a correct answer of each kind (the smoke check). */
  marks: { whole: string; stream: string };
}

export const MODEL = "bench-model";
const WORDS = 20;
const CREATED = 1735689600;
const PROMPT = "Say hello to the benchmark.";
const text = Array.from({ length: WORDS }, (_, i) => (i ? " word" : "word")).join("");
const word = (i: number) => (i ? " word" : "word");
const data = (payload: unknown) => `data: ${JSON.stringify(payload)}\n\n`;
const named = (type: string, payload: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;

function chat(): BenchApi {
  const usage = { prompt_tokens: 24, completion_tokens: WORDS, total_tokens: 24 + WORDS, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } };
  const head = { id: "chatcmpl-bench", object: "chat.completion.chunk", created: CREATED, model: MODEL };
  const chunk = (delta: unknown, finish: string | null) => data({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  const messages = [{ role: "user", content: PROMPT }];
  return {
    id: "chat", label: "chat completions", path: "/v1/chat/completions", headers: {},
    body: JSON.stringify({ model: MODEL, messages, max_tokens: 64 }),
    streamBody: JSON.stringify({ model: MODEL, messages, max_tokens: 64, stream: true, stream_options: { include_usage: true } }),
    answer: JSON.stringify({
      id: "chatcmpl-bench", object: "chat.completion", created: CREATED, model: MODEL,
      choices: [{ index: 0, message: { role: "assistant", content: text, refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage, system_fingerprint: "fp_bench",
    }),
    events: [
      chunk({ role: "assistant", content: "" }, null),
      ...Array.from({ length: WORDS }, (_, i) => chunk({ content: word(i) }, null)),
      chunk({}, "stop"),
      data({ ...head, choices: [], usage }),
      "data: [DONE]\n\n",
    ],
    usageEvent: WORDS + 2,
    marks: { whole: '"choices"', stream: "data: [DONE]" },
  };
}

function responses(): BenchApi {
  const id = "resp_bench";
  const usage = { input_tokens: 24, input_tokens_details: { cached_tokens: 0 }, output_tokens: WORDS, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 24 + WORDS };
  const base = { id, object: "response", created_at: CREATED, model: MODEL };
  const part = (t: string) => ({ type: "output_text", text: t, annotations: [] });
  const message = { type: "message", id: "msg_bench", status: "completed", role: "assistant", content: [part(text)] };
  const done = { ...base, status: "completed", output: [message], usage };
  const started = { ...base, status: "in_progress", output: [], usage: null };
  const at = { item_id: "msg_bench", output_index: 0, content_index: 0 };
  let seq = 0;
  const ev = (type: string, payload: Record<string, unknown>) => named(type, { sequence_number: seq++, ...payload });
  return {
    id: "responses", label: "Responses", path: "/v1/responses", headers: {},
    body: JSON.stringify({ model: MODEL, input: PROMPT, max_output_tokens: 64 }),
    streamBody: JSON.stringify({ model: MODEL, input: PROMPT, max_output_tokens: 64, stream: true }),
    answer: JSON.stringify(done),
    events: [
      ev("response.created", { response: started }),
      ev("response.in_progress", { response: started }),
      ev("response.output_item.added", { output_index: 0, item: { ...message, status: "in_progress", content: [] } }),
      ev("response.content_part.added", { item_id: "msg_bench", output_index: 0, content_index: 0, part: part("") }),
      ...Array.from({ length: WORDS }, (_, i) => ev("response.output_text.delta", { ...at, delta: word(i) })),
      ev("response.output_text.done", { ...at, text }),
      ev("response.content_part.done", { item_id: "msg_bench", output_index: 0, content_index: 0, part: part(text) }),
      ev("response.output_item.done", { output_index: 0, item: message }),
      ev("response.completed", { response: done }),
    ],
    marks: { whole: '"output_text"', stream: "event: response.completed" },
  };
}

function messages(): BenchApi {
  const id = "msg_bench";
  const input = { input_tokens: 24, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  const msg = { id, type: "message", role: "assistant", model: MODEL };
  const messages = [{ role: "user", content: PROMPT }];
  return {
    id: "messages", label: "Messages", path: "/v1/messages", headers: { "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: MODEL, max_tokens: 64, messages }),
    streamBody: JSON.stringify({ model: MODEL, max_tokens: 64, messages, stream: true }),
    answer: JSON.stringify({ ...msg, content: [{ type: "text", text }], stop_reason: "end_turn", stop_sequence: null, usage: { ...input, output_tokens: WORDS } }),
    events: [
      named("message_start", { message: { ...msg, content: [], stop_reason: null, stop_sequence: null, usage: { ...input, output_tokens: 1 } } }),
      named("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
      named("ping", {}),
      ...Array.from({ length: WORDS }, (_, i) => named("content_block_delta", { index: 0, delta: { type: "text_delta", text: word(i) } })),
      named("content_block_stop", { index: 0 }),
      named("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: WORDS } }),
      named("message_stop", {}),
    ],
    marks: { whole: '"text":"word', stream: "event: message_stop" },
  };
}

export const APIS: Record<ApiId, BenchApi> = { chat: chat(), responses: responses(), messages: messages() };

/** The headers of the fake upstreams' answers, whole and streamed. */
export const UPSTREAM_JSON_HEADERS = { "content-type": "application/json", "x-request-id": "upstream-bench" };
export const UPSTREAM_SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache", "x-request-id": "upstream-bench" };

/** The API a tool's `--api=` names (chat when absent). */
export function apiArg(argv: string[]): BenchApi {
  const api = APIS[(argv.find((a) => a.startsWith("--api="))?.slice("--api=".length) ?? "chat") as ApiId];
  if (!api) throw new Error("--api= takes chat, responses or messages");
  return api;
}
