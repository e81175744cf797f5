import type { Provider } from "../../config/load";

/**
 * One small adapter per upstream dialect (a plain record, as in Portkey's provider registry);
 * OpenAI-compatible vendors share the base and override only their quirks.
 */
export interface ProviderAdapter {
  chatPath: string;
  /** xAI counts reasoning tokens outside completion_tokens. */
  reasoningIsExtra: boolean;
  /** The field used when the gateway itself caps the output length. */
  maxTokensField: "max_tokens" | "max_completion_tokens";
}

const openaiCompatible: ProviderAdapter = {
  chatPath: "/chat/completions",
  reasoningIsExtra: false,
  maxTokensField: "max_tokens",
};

export const adapters: Record<Provider["kind"], ProviderAdapter> = {
  openai: openaiCompatible,
  xai: { ...openaiCompatible, reasoningIsExtra: true },
};

/** Headers sent upstream: only the gateway's own credentials and configured extras. */
export function upstreamHeaders(p: Provider, stream: boolean): Record<string, string> {
  return {
    "content-type": "application/json",
    accept: stream ? "text/event-stream" : "application/json",
    "user-agent": "tollgate/0.1",
    ...p.headers,
    ...(p.api_key ? { authorization: `Bearer ${p.api_key}` } : {}),
  };
}
