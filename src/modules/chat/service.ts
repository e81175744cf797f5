import type { AppDeps } from "../../app";
import { errors } from "../../lib/errors";
import type { Principal } from "../keys/service";
import { findModel } from "../models/service";
import { adapters, upstreamHeaders } from "../providers/adapters";
import { translateUpstreamError } from "../providers/errors";
import { readUsage, usageJson, type RawUsage } from "../providers/usage";
import { estimateTokens } from "./estimate";
import { planHold } from "./hold";
import { Meter } from "./meter";
import { STRIPPED_FIELDS, type ChatRequestT } from "./model";
import { streamResponse } from "./stream";

export interface ChatCall {
  principal: Principal;
  body: ChatRequestT;
  /** The client's request: its signal aborts the upstream call when the client goes away. */
  signal: AbortSignal;
  requestId: string;
}

/** What the key may still spend: the account's available credit, bounded by the key's cap. */
function spendable(deps: AppDeps, p: Principal): number {
  const available = deps.credits.balance(p.accountId).available;
  return p.spendCapMicros === null ? available : Math.min(available, p.spendCapMicros - p.spentMicros);
}

/**
 * One chat completion: admit (rate limit) → reserve the worst case → call the upstream →
 * settle with the real usage (or release on failure). Money never moves inside a network wait.
 */
export async function proxyChat(deps: AppDeps, call: ChatCall): Promise<Response> {
  const { principal: p, body, requestId } = call;
  const model = findModel(deps.config, p.models, body.model);
  const provider = deps.config.providers.find((x) => x.id === model.provider)!;
  const adapter = adapters[provider.kind];
  const stream = body.stream === true;
  const plan = planHold(model, body, spendable(deps, p));

  const admission = deps.limiter.admit(p, plan.tokenEstimate);
  try {
    deps.credits.reserve({ accountId: p.accountId, keyId: p.keyId, requestId, amount: plan.hold });
  } catch (e) {
    admission.release();
    throw e;
  }
  const meter = new Meter(deps, requestId, p, model, stream, plan.hold, admission);
  const headers = { "x-request-id": requestId, ...admission.headers };

  const upstreamBody: Record<string, unknown> = { ...body, model: model.upstream_model };
  for (const f of STRIPPED_FIELDS) delete upstreamBody[f];
  if (plan.cappedMaxTokens !== null) upstreamBody[adapter.maxTokensField] = plan.cappedMaxTokens;
  // Always ask for usage: without it a stream would be billed as an estimate.
  if (stream) upstreamBody.stream_options = { ...body.stream_options, include_usage: true };

  const controller = new AbortController();
  const onClientAbort = () => controller.abort();
  call.signal.addEventListener("abort", onClientAbort, { once: true });
  const clientAborted = () => call.signal.aborted;
  const chargePrompt = (code: string) =>
    meter.charge({ status: 499, usage: { prompt: plan.promptEstimate, cached: 0, completion: 0, reasoning: 0 }, estimated: true, errorCode: code });

  let res: Response;
  try {
    res = await fetch(provider.base_url + adapter.chatPath, {
      method: "POST",
      headers: upstreamHeaders(provider, stream),
      body: JSON.stringify(upstreamBody),
      signal: controller.signal,
    });
  } catch {
    if (clientAborted()) {
      await chargePrompt("client_closed");
      return new Response(null, { status: 499, headers });
    }
    await meter.release(502, "upstream_unreachable");
    throw errors.upstream(502, "Could not reach the upstream provider. Please retry.", "upstream_unreachable", { "x-request-id": requestId });
  }
  const upstreamRequestId = res.headers.get("x-request-id") ?? res.headers.get("request-id");

  if (!res.ok) {
    const text = await res.text().catch(() => "");
    const err = translateUpstreamError(res.status, text, res.headers.get("retry-after"));
    await meter.release(err.status, err.code ?? "upstream_error");
    throw err;
  }

  if (stream && (res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    return streamResponse({
      upstream: res,
      meter,
      abort: () => controller.abort(),
      clientAborted,
      clientWantsUsage: body.stream_options?.include_usage === true,
      reasoningIsExtra: adapter.reasoningIsExtra,
      promptEstimate: plan.promptEstimate,
      headers,
      upstreamRequestId,
    });
  }

  let text: string;
  try {
    text = await res.text();
  } catch {
    if (clientAborted()) {
      await chargePrompt("client_closed");
      return new Response(null, { status: 499, headers });
    }
    await meter.release(502, "upstream_body_broken");
    throw errors.upstream(502, "The upstream connection was lost before the response completed.", "upstream_body_broken");
  }
  let json: { usage?: RawUsage; choices?: { message?: { content?: unknown } }[] };
  try {
    json = JSON.parse(text);
    if (!json || typeof json !== "object") throw new Error("not an object");
  } catch {
    await meter.release(502, "upstream_malformed");
    throw errors.upstream(502, "The upstream sent a malformed response.", "upstream_malformed");
  }
  if (json.usage && typeof json.usage === "object") {
    const usage = readUsage(json.usage, adapter.reasoningIsExtra);
    json.usage = usageJson(json.usage, usage);
    await meter.charge({ status: 200, usage, estimated: false, upstreamRequestId });
  } else {
    const out = (json.choices ?? []).map((c) => (typeof c.message?.content === "string" ? c.message.content : "")).join("");
    const usage = { prompt: plan.promptEstimate, cached: 0, completion: estimateTokens(out), reasoning: 0 };
    await meter.charge({ status: 200, usage, estimated: true, upstreamRequestId });
  }
  return new Response(JSON.stringify(json), { status: 200, headers: { "content-type": "application/json", ...headers } });
}
