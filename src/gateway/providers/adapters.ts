import type { Provider } from "../../config/load";

/**
 * One small adapter per upstream dialect (a plain record, as in Portkey's provider registry);
 * OpenAI-compatible vendors share the base and override only their quirks.
 */
export interface ProviderAdapter {
  /** xAI counts reasoning tokens outside completion_tokens. */
  reasoningIsExtra: boolean;
  /** The field used when the gateway itself caps the output length. */
  maxTokensField: "max_tokens" | "max_completion_tokens";
}

const openaiCompatible: ProviderAdapter = {
  reasoningIsExtra: false,
  maxTokensField: "max_tokens",
};

export const adapters: Record<Provider["kind"], ProviderAdapter> = {
  openai: openaiCompatible,
  xai: { ...openaiCompatible, reasoningIsExtra: true },
};

/**
 * Headers sent upstream: the gateway's own credentials (`apiKey`, the upstream key in use), the
 * configured extras, and the few client headers an API needs (`forwarded`, e.g.
 * anthropic-version); never the customer's key.
 */
export function upstreamHeaders(p: Provider, apiKey: string | undefined, stream: boolean, forwarded?: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = {
    "content-type": "application/json",
    accept: stream ? "text/event-stream" : "application/json",
    "user-agent": "tollgate/0.1",
    // Encodings whose inflation is bounded: a whole answer is then read natively within max_answer_bytes (capped-body.ts).
    "accept-encoding": "gzip, deflate",
  };
  if (forwarded) Object.assign(h, forwarded);
  if (p.headers) Object.assign(h, p.headers);
  if (apiKey) {
    h.authorization = `Bearer ${apiKey}`;
    h["x-api-key"] = apiKey;
  }
  return h;
}
