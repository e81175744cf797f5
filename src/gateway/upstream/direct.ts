import { cappedText } from "../../lib/capped-body";
import { errors, type ApiError } from "../../lib/errors";
import { ERROR_BODY_BYTES } from "./attempt";
import { upstreamHeaders } from "../providers/adapters";
import { translateUpstreamError } from "../providers/errors";
import type { UpstreamRegistry } from "./registry";
import { retryAfterMs } from "./retry";

/**
 * A plain request to one upstream key, for what is not metered: reading or deleting a stored
 * response, fetching a deferred result. It goes to the key that holds the object (no retries on
 * other keys: they would not know it), within the first-byte timeout. Upstream errors are
 * translated as for metered requests. A 404 is answered (bodiless) only when `gone` reads its body
 * as the upstream saying the object is gone; any other (a missing route's, an ingress's page during
 * a redeploy) is the upstream's failure, a 502, so that the caller forgets nothing it records.
 */
export async function callTarget(
  reg: UpstreamRegistry, targetId: string, method: "GET" | "DELETE", path: string, requestId: string | null, gone: (errorBody: string) => boolean,
): Promise<Response> {
  const target = reg.resolve(targetId);
  if (!target) throw errors.upstream(502, "The upstream key that holds this object is no longer configured.", "upstream_unconfigured");
  const { provider } = target;
  // As a metered attempt's failure is logged (never counted by the breaker: nothing metered failed).
  const failed = (error: ApiError, status: number | null): ApiError => {
    reg.log.event("upstream_failure", { request_id: requestId, upstream: target.id, attempt: 1, status, code: error.code, counted: false }, "warn");
    return error;
  };
  let res: Response;
  try {
    res = await fetch(provider.base_url + path, {
      method,
      headers: upstreamHeaders(provider, target.key, false),
      signal: AbortSignal.timeout(reg.config.timeouts.first_byte_ms),
      // Never followed: the upstream key would go to whatever origin a redirect names.
      redirect: "manual",
    });
  } catch (e) {
    const timeout = (e as Error)?.name === "TimeoutError";
    throw failed(
      timeout
        ? errors.upstream(504, "The upstream provider did not answer in time. Please retry.", "upstream_timeout")
        : errors.upstream(502, "Could not reach the upstream provider. Please retry.", "upstream_unreachable"),
      null,
    );
  }
  if (res.ok || res.status === 202) return res;
  const text = await cappedText(res, ERROR_BODY_BYTES).catch(() => "");
  if (res.status === 404 && gone(text)) return new Response(null, { status: 404 });
  const error = res.status === 404 ? errors.upstream(502, "The upstream provider failed (HTTP 404).", "upstream_error") : translateUpstreamError(res.status, text, retryAfterMs(res.headers), reg.log.enabled);
  throw failed(error, res.status);
}
