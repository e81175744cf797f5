import type { Model } from "../config/load";
import { errors } from "../lib/errors";
import type { Spendable, SpendOwners } from "../money/credit-store";
import { budgetHeaders } from "./budget-headers";
import { findModel, modelsFor } from "./catalogue";
import type { GatewayDeps } from "./deps";
import type { Dialect, GatewayBody, Prepared } from "./dialects/types";
import { planHold, type HoldPlan } from "./hold";
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

/** Whose credit the principal spends, with the hints that let the store skip lookups. */
export const ownersOf = (p: Principal): SpendOwners => ({
  accountId: p.accountId,
  keyId: p.keyId,
  capKeyId: p.capKeyId,
  memberId: p.memberId ?? null,
  capped: p.spendCapMicros === null && p.capKeyId === p.keyId ? false : undefined,
  budgeted: p.budgeted === false ? false : undefined,
});

/**
 * Whether the books are shared by several instances (PostgreSQL): its credit store then leases
 * before admission (`prepare`), and the embedded store, which has no need to, has none.
 */
export const sharedBooks = (deps: GatewayDeps): boolean => deps.credits.prepare !== undefined;

/** What the key may still spend (the credit store decides: balance, cap, budgets; holds count). */
export const spendable = (deps: GatewayDeps, p: Principal): Spendable => deps.credits.spendable(ownersOf(p));

/**
 * Refuses (402) a key that cannot pay for any request, before its body is read: nothing but a
 * free model could be held for it. A body of megabytes from a $0 account costs nothing then.
 */
export function refuseBroke(deps: GatewayDeps, p: Principal): void {
  const s = spendable(deps, p);
  if (s.amount > 0) return;
  // Shared store: credit left in the database is leased at admission (prepareAdmit).
  if (sharedBooks(deps) && deps.credits.balance(p.accountId).available > 0) return;
  const free = modelsFor(deps.config, p.models).some((m) => m.input_price === 0 && m.output_price === 0 && m.image_price === 0);
  if (!free) throw s.refuse();
}

/** The worst case a request could hold, whatever the balance (what prepareAdmit leases for). */
const UNLIMITED: Spendable = { amount: Number.MAX_SAFE_INTEGER, refuse: () => errors.internal() };

/**
 * On a store shared by several instances (PostgreSQL), leases the credit and rate-limit units the
 * synchronous admit() will take, so that it can still decide without awaiting. The embedded store
 * has everything here already: nothing is awaited then.
 */
export async function prepareAdmit<B extends GatewayBody>(deps: GatewayDeps, req: AdmitRequest<B>): Promise<() => void> {
  const { credits, limiter } = deps;
  const { principal: p, body, dialect } = req;
  const model = findModel(deps.config, p.models, body.model, dialect.modelKind);
  const plan = planHold(model, dialect.demand(body, req.prepared), UNLIMITED);
  const [c, l] = await Promise.allSettled([credits.prepare?.(ownersOf(p), plan.hold), limiter.prepare?.(p, plan.tokenEstimate)]);
  const unpend = () => {
    if (c.status === "fulfilled") c.value?.();
    if (l.status === "fulfilled") l.value?.();
  };
  if (c.status === "rejected" || l.status === "rejected") {
    unpend();
    throw c.status === "rejected" ? c.reason : (l as PromiseRejectedResult).reason;
  }
  return unpend;
}

/**
 * Before the body is read, on a shared store: when this instance holds no lease to spend from,
 * reads the balance again (leasing nothing: a lease is sized for the request's hold later).
 */
export async function prepareBroke(deps: GatewayDeps, p: Principal): Promise<void> {
  if (spendable(deps, p).amount <= 0) (await deps.credits.prepare?.(ownersOf(p), 0))?.();
}

/**
 * Lets a request in or refuses it, synchronously (nothing awaits between the balance check and
 * the hold): the model (404), the hold it can afford (402), the gateway's cap on requests in
 * flight (503), the rate limits (429), then the hold itself. Throws ApiError when refused.
 */
export function admit<B extends GatewayBody>(deps: GatewayDeps, req: AdmitRequest<B>, unpend?: () => void): Admitted {
  // What prepareAdmit promised this request is its to take now (nothing awaits from here on).
  unpend?.();
  const { principal: p, body, requestId, dialect } = req;
  const model = findModel(deps.config, p.models, body.model, dialect.modelKind);
  const demand = dialect.demand(body, req.prepared);
  const plan = planHold(model, demand, spendable(deps, p));
  // Charges that cannot be recorded: no answer goes out unpaid (one a second tries the storage again).
  if (!dialect.free && deps.credits.admits?.() === false) throw chargesFailing();
  // The global cap comes first: a full gateway answers 503 without touching limits or credit.
  const lease = deps.upstreams.traffic.enter();
  let admission: Admission | undefined;
  try {
    admission = deps.limiter.admit(p, plan.tokenEstimate, true);
    // The request id was generated for this request (route.ts), never by the client.
    deps.credits.reserve({ accountId: p.accountId, keyId: p.keyId, capKeyId: p.capKeyId, memberId: p.memberId, requestId, amount: plan.hold, freshId: true, live: true });
  } catch (e) {
    // Refused before any upstream work: give the request and its tokens back to the limiter.
    admission?.cancel();
    lease.release();
    throw e;
  }
  const meter = new Meter(deps, requestId, p, model, req.stream, plan.hold, dialect.free ? keepTokens(admission, plan.tokenEstimate) : admission, dialect.endpoint, demand.tools);
  const headers: Record<string, string> = { "x-request-id": requestId, ...admission.headers, ...budgetHeaders(deps.credits, p) };
  if (dialect.requestIdHeader) headers[dialect.requestIdHeader] = requestId;
  return { model, plan, lease, admission, meter, headers };
}

/**
 * A free API's admission keeps the tokens it took (its text's estimate): it reports no usage to
 * correct them with, and its answer costs the gateway what its text does whatever it is charged.
 */
const keepTokens = (a: Admission, estimate: number): Admission => ({ ...a, settle: () => a.settle(estimate) });

const chargesFailing = () =>
  errors.upstream(503, "The gateway cannot record charges right now (its storage is failing). Please retry shortly.", "charges_failing", { "retry-after": "1" });
