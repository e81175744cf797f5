import type { UpstreamListT, UpstreamViewT } from "./model";
import type { UpstreamRegistry, Target } from "../../gateway/upstream/registry";
import type { Upstreams } from "../../gateway/upstream/upstreams";

const seconds = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

/** A base URL without any credentials written into it. */
function safeUrl(url: string): string {
  const u = new URL(url);
  u.username = "";
  u.password = "";
  return u.toString().replace(/\/+$/, "");
}

export function upstreamView(reg: UpstreamRegistry, t: Target): UpstreamViewT {
  const recent = t.breaker.recent();
  return {
    id: t.id,
    object: "upstream",
    provider: t.provider.id,
    kind: t.provider.kind,
    base_url: safeUrl(t.provider.base_url),
    key_hint: t.key ? `…${t.key.slice(-4)}` : null,
    state: t.breaker.state,
    retry_at: t.breaker.state === "closed" ? null : seconds(t.breaker.retryAt),
    times_opened: t.breaker.timesOpened,
    in_flight: t.inFlight,
    requests: t.requests,
    failures: t.failures,
    recent: {
      window_seconds: Math.round(reg.config.breaker.window_ms / 1000),
      requests: recent.requests,
      failures: recent.failures,
      error_rate: Math.round(recent.errorRate * 1000) / 1000,
    },
    last_error: t.lastError,
    last_error_at: seconds(t.lastErrorAt),
    last_success_at: seconds(t.lastSuccessAt),
    deployments: reg.modelsOf(t.provider.id),
  };
}

/** GET /admin/upstreams (also for the operator console). */
export function listUpstreams(u: Upstreams, instance: string | null = null): UpstreamListT {
  return {
    object: "list",
    instance,
    in_flight: u.traffic.inFlight,
    max_concurrent_streams: u.traffic.limit,
    draining: u.traffic.isDraining,
    data: u.registry.targets.map((t) => upstreamView(u.registry, t)),
  };
}
