import type { Model } from "../config/load";
import { budgetExhausted, outOfCredit, spendCapReached } from "../money/refusals";
import { budgetHeaders } from "./budget-headers";
import { findModel, modelsFor } from "./catalogue";
import type { GatewayDeps } from "./deps";
import type { Dialect, GatewayBody, Prepared } from "./dialects/types";
import { planHold, type HoldPlan, type Spendable } from "./hold";
import type { Principal } from "./key-auth";
import type { Admission } from "./limits/limiter";
import { Meter } from "./meter";
import type { Lease } from "./upstream/traffic";

/** A request let in: its model, its hold, its place in the gateway and its rate-limit admission. */
export interface Admitted {
  model: Model;
  plan: HoldPlan;
  lease: Lease;
  admission: Admission;
  meter: Meter;
  /** x-request-id, x-ratelimit-* and x-budget-remaining for every answer to this request. */
  headers: Record<string, string>;
}

export interface AdmitRequest<B extends GatewayBody> {
  dialect: Dialect<B>;
  principal: Principal;
  body: B;
  requestId: string;
  stream: boolean;
  prepared?: Prepared;
}

/**
 * What the key may still spend: the account's available credit, bounded by what its cap (shared
 * with the key's replacements) and its budgets (the key line's, its member's) leave, and the
 * refusal that names whichever binds. Holds in flight count against each.
 */
export function spendable(deps: GatewayDeps, p: Principal): Spendable {
  let best: Spendable = { amount: deps.credits.balance(p.accountId).available, refuse: outOfCredit };
  const key = p.spendCapMicros === null && p.capKeyId === p.keyId ? null : deps.credits.keySpend(p.capKeyId);
  if (key?.cap != null) {
    const left = key.cap - key.spent - key.held;
    if (left < best.amount) best = { amount: left, refuse: () => spendCapReached(p.keyId, key.cap!, key.spent) };
  }
  for (const b of p.budgeted === false ? [] : deps.credits.budgets({ capKeyId: p.capKeyId, memberId: p.memberId ?? null })) {
    if (b.remaining < best.amount) best = { amount: b.remaining, refuse: () => budgetExhausted(b, deps.credits.budgetClock) };
  }
  return best;
}

/**
 * Refuses (402) a key that cannot pay for any request, before its body is read: nothing but a
 * free model could be held for it. A body of megabytes from a $0 account costs nothing then.
 */
export function refuseBroke(deps: GatewayDeps, p: Principal): void {
  const s = spendable(deps, p);
  if (s.amount > 0) return;
  const free = modelsFor(deps.config, p.models).some((m) => m.input_price === 0 && m.output_price === 0 && m.image_price === 0);
  if (!free) throw s.refuse();
}

/**
 * Lets a request in or refuses it, synchronously (nothing awaits between the balance check and
 * the hold): the model (404), the hold it can afford (402), the gateway's cap on requests in
 * flight (503), the rate limits (429), then the hold itself. Throws ApiError when refused.
 */
export function admit<B extends GatewayBody>(deps: GatewayDeps, req: AdmitRequest<B>): Admitted {
  const { principal: p, body, requestId, dialect } = req;
  const model = findModel(deps.config, p.models, body.model, dialect.modelKind);
  const plan = planHold(model, dialect.demand(body, req.prepared), spendable(deps, p));
  // The global cap comes first: a full gateway answers 503 without touching limits or credit.
  const lease = deps.upstreams.traffic.enter();
  let admission: Admission | undefined;
  try {
    admission = deps.limiter.admit(p, plan.tokenEstimate);
    // The request id was generated for this request (route.ts), never by the client.
    deps.credits.reserve({ accountId: p.accountId, keyId: p.keyId, capKeyId: p.capKeyId, memberId: p.memberId, requestId, amount: plan.hold, freshId: true, live: true });
  } catch (e) {
    // Refused before any upstream work: give the request and its tokens back to the limiter.
    admission?.cancel();
    lease.release();
    throw e;
  }
  const meter = new Meter(deps, requestId, p, model, req.stream, plan.hold, admission, dialect.endpoint);
  const headers: Record<string, string> = { "x-request-id": requestId, ...admission.headers, ...budgetHeaders(deps.credits, p) };
  if (dialect.requestIdHeader) headers[dialect.requestIdHeader] = requestId;
  return { model, plan, lease, admission, meter, headers };
}
