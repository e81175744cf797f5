/**
 * The shared fake upstream for tests: the mock upstream from src/demo with per-request fault
 * injection through a `mock` field in the request body (see MockBehavior). A gateway in front of
 * one: startGateway({ upstream: true }) (test/support/gateway.ts).
 */
export { startMockUpstream as startFakeUpstream, mockUsage, mockCostTicks, MOCK_PRICES, type MockBehavior, type MockRequest, type MockUpstream } from "../../src/demo/mock-upstream";

/** Config overrides pointing the default catalogue at a fake upstream. */
export function fakeCatalogue(upstreamUrl: string, kind: "openai" | "xai" = "xai") {
  return {
    providers: [{ id: "fake", base_url: upstreamUrl, kind, api_key: "upstream-secret-key-123" }],
    models: [
      { id: "grok-4", provider: "fake", upstream_model: "grok-4-0709", input_price: 3, cached_input_price: 0.75, output_price: 15, max_output_tokens: 1000 },
      { id: "grok-3", provider: "fake", input_price: 3, cached_input_price: 0.75, output_price: 15, max_output_tokens: 1000 },
      { id: "cheap", provider: "fake", input_price: 0.3, cached_input_price: 0.075, output_price: 0.5, max_output_tokens: 4000 },
      // The upstream's own cost (its ticks) plus 20 %: tools, tiers and images included.
      { id: "grok-4-plus", provider: "fake", upstream_model: "grok-4-0709", input_price: 3, cached_input_price: 0.75, output_price: 15, max_output_tokens: 1000, pricing: "cost_plus", markup_percent: 20 },
      { id: "grok-imagine-image", provider: "fake", kind: "image", image_price: 0.02 },
    ],
  };
}

/** Resilience settings under which a gateway calls the upstream exactly once per request. */
export const SINGLE_SHOT = { retry: { max_attempts: 1 }, breaker: { failures: 1000, min_requests: 1_000_000 } } as const;
