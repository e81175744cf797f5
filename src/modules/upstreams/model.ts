import { z } from "zod";

const unixSeconds = z.number().int().nullable();

export const UpstreamDeploymentView = z.object({
  model: z.string(),
  upstream_model: z.string(),
  priority: z.number().int(),
  weight: z.number().int(),
});

/** One upstream key of one provider: never the key itself, only its last four characters. */
export const UpstreamView = z.object({
  id: z.string().describe("`<provider>#<n>`: the provider and the number of its key (1-based)."),
  object: z.literal("upstream"),
  provider: z.string(),
  kind: z.enum(["openai", "xai"]),
  base_url: z.string(),
  key_hint: z.string().nullable().describe("Last four characters of the upstream key (null: no key)."),
  state: z.enum(["closed", "open", "half_open"]).describe("Circuit breaker: closed = in use, open = skipped, half_open = one probe allowed."),
  retry_at: unixSeconds.describe("Unix seconds when an open breaker lets a probe through."),
  times_opened: z.number().int(),
  in_flight: z.number().int(),
  requests: z.number().int().describe("Attempts since the gateway started."),
  failures: z.number().int().describe("Failed attempts since the gateway started."),
  recent: z.object({
    window_seconds: z.number().int(),
    requests: z.number().int(),
    failures: z.number().int(),
    error_rate: z.number().min(0).max(1),
  }),
  last_error: z.string().nullable(),
  last_error_at: unixSeconds,
  last_success_at: unixSeconds,
  deployments: z.array(UpstreamDeploymentView),
});

export const UpstreamList = z.object({
  object: z.literal("list"),
  instance: z.string().nullable().describe("The gateway instance that answered (database_url: several share one database; breakers and health are per instance); null on the embedded store."),
  in_flight: z.number().int().describe("Proxied requests in flight across the gateway."),
  max_concurrent_streams: z.number().int(),
  draining: z.boolean().describe("True while the gateway shuts down."),
  data: z.array(UpstreamView),
});

export type UpstreamViewT = z.infer<typeof UpstreamView>;
export type UpstreamListT = z.infer<typeof UpstreamList>;
