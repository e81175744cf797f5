/** What a mock answer does (server defaults, overridden per request by a `mock` object) and its usage. */
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
  /** Reasoning runs past max_tokens, as some reasoning models' does (the usage reports it all). */
  reasoning_beyond_max_tokens?: boolean;
  /** The faults apply only to requests made with this upstream key (Bearer); others are answered normally. */
  only_key?: string;
}

function promptTokens(body: Record<string, unknown>): number {
  return Math.max(1, Math.ceil(JSON.stringify(body.messages ?? "").length / 4));
}

export type MockUsage = ReturnType<typeof mockUsage>;

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
