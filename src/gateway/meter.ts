import type { Model } from "../config/load";
import { ApiError, errors } from "../lib/errors";
import type { SettleExtras, SettleResult, StoredObjectRow, UsageRecord } from "../money/credit-store";
import type { MeterDeps } from "./deps";
import type { Principal } from "./key-auth";
import type { Admission } from "./limits/limiter";
import { chargeFor, namedCalls, pricesOf, upstreamCostFor } from "../money/pricing";
import type { Tool } from "../config/schema";
import { MAX_BALANCE_MICROS } from "../money/units";
import { outputItemTokens, type Usage } from "../money/usage";
import type { Endpoint, StoredRef } from "./dialects/types";
import { requestLine } from "./request-line";

export interface Outcome {
  status: number;
  /** Real upstream usage, or an estimate (then `estimated`). */
  usage: Usage;
  estimated: boolean;
  errorCode?: string | null;
  ttftMs?: number | null;
  upstreamRequestId?: string | null;
  /** What the answer stored upstream (a response and its items): recorded for its owner once charged. */
  stored?: StoredRef | null;
}

/** What a charge records of the objects its answer stored upstream (nothing, or a response and its items). */
type Stored = Pick<SettleExtras, "object" | "items" | "itemTokens">;

const NO_USAGE: Usage = { prompt: 0, cached: 0, completion: 0, reasoning: 0 };

/** What an answer the gateway could not read (or choked on) is answered with: the upstream's fault. */
export const unreadable = () => errors.upstream(502, "The upstream sent a malformed response.", "upstream_malformed");

const safe = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

/** Every count a safe integer and the charge within the balance bound: anything else is no real usage. */
export function plausible(u: Usage, row: UsageRecord): boolean {
  if (!(safe(u.prompt) && safe(u.cached) && safe(u.completion) && safe(u.reasoning))) return false;
  if (!(safe(u.images ?? 0) && safe(u.upstreamCost ?? 0))) return false;
  if (u.tools) for (const t in u.tools) if (!safe(u.tools[t as keyof typeof u.tools])) return false;
  return safe(row.costMicros) && row.costMicros <= MAX_BALANCE_MICROS && (row.upstreamCostMicros == null || safe(row.upstreamCostMicros));
}

/**
 * The money side of one proxied request: it settles or releases the hold exactly once, writes
 * the usage row in the same transaction, corrects and frees the rate-limit admission, and writes
 * the request's log line. Whatever fails before a settlement took the hold ends in `abandon`.
 */
export class Meter {
  /** A settlement (charge, release) or the deferred record has taken the hold: nothing more to do. */
  private done = false;
  private readonly started = performance.now();
  /** What served the request (`<provider>#<n>/<upstream model>`) and how many attempts it took. */
  private upstream: string | null = null;
  /** The stable id of the key that served it (Target.ref): what objects it leaves upstream record. */
  private keyRef: string | null = null;
  private attempts = 0;

  constructor(
    private readonly deps: MeterDeps,
    private readonly requestId: string,
    private readonly principal: Principal,
    private readonly model: Model,
    private readonly stream: boolean,
    private readonly hold: number,
    private readonly admission: Admission,
    private readonly endpoint: Endpoint = "chat.completions",
    /** The server-side tools the request enabled: calls the upstream does not name are priced as the dearest. */
    private readonly tools: readonly Tool[] = [],
  ) {}

  get finished(): boolean {
    return this.done;
  }

  /** An upstream attempt started on `upstream` (the last one is what served the request). */
  attempt(upstream: string, keyRef: string): void {
    this.upstream = upstream;
    this.keyRef = keyRef;
    this.attempts++;
  }

  /** What a usage costs the customer under this model's pricing (see money/pricing.ts). */
  price(u: Usage): number {
    return chargeFor(namedCalls(u, this.model, this.tools), this.model);
  }

  /** The charge and usage row of an outcome, or null when the charge cannot take its usage (see plausible). */
  private priced(o: Outcome): { cost: number; row: UsageRecord } | null {
    try {
      const usage = namedCalls(o.usage, this.model, this.tools);
      const cost = chargeFor(usage, this.model);
      const row = this.row({ ...o, usage }, cost);
      return plausible(usage, row) ? { cost, row } : null;
    } catch {
      return null;
    }
  }

  /**
   * Charges the usage at the model's pricing, all of it: beyond the hold too (the overage; the
   * balance may go below zero by it). Resolves once the charge is durable. A usage the charge
   * cannot take is charged as `instead` (a stream's estimate: what was delivered is never free),
   * or refused before anything moves (the hold is still here for abandon to void).
   */
  async charge(outcome: Outcome, instead?: () => Outcome): Promise<number> {
    if (this.done) return 0;
    let o = outcome;
    let p = this.priced(o);
    if (!p && instead) p = this.priced((o = instead()));
    if (!p) throw unreadable();
    const { cost, row } = p;
    this.done = true;
    // A stored object is recorded with the charge (before the answer goes out: a continuation may follow at once).
    const object = o.stored ? this.created(o.stored, o, cost) : {};
    try {
      await this.settle(cost, row, object);
      this.recorded(row);
    } catch (e) {
      // A stream's output went out already: its charge is tried again until it is durable (a full
      // disk, a lost database). A whole answer not charged is not delivered either (a 500).
      if (!this.stream) {
        this.line(row, "charge_not_recorded", 500, false);
        this.retryRelease({ ...row, status: 500, costMicros: 0, errorCode: "charge_not_recorded" });
      } else {
        this.line(row, "charge_pending", row.status, false);
        this.retry(cost, row, object);
      }
      throw e;
    } finally {
      this.admission.settle(o.usage.prompt + o.usage.completion);
      this.admission.release();
    }
    return cost;
  }

  /**
   * The upstream will answer later (a deferred completion): the hold stays, with the request
   * recorded for its owner, until the result is fetched and charged or the upstream forgets it.
   * `promptEstimate` is charged with the result text's estimate if the result has no usage.
   */
  async defer(upstreamId: string, promptEstimate: number): Promise<void> {
    if (this.done) return;
    this.done = true;
    const p = this.principal;
    try {
      await this.deps.deferred.park({
        requestId: this.requestId, upstreamId, accountId: p.accountId, keyId: p.keyId, capKeyId: p.capKeyId, memberId: p.memberId ?? null,
        target: this.keyRef ?? "", model: this.model.id, holdMicros: this.hold, promptEstimate, createdAt: this.deps.now(),
        // The prices it was admitted under: the result is charged at them, even once the model is gone.
        prices: JSON.stringify(pricesOf(this.model)),
      });
    } catch (e) {
      // Not recorded, so nobody would ever charge it: the hold is still this request's to void.
      this.done = false;
      throw e;
    }
    this.deps.credits.detach?.(this.requestId);
    // Not in flight while the upstream works: its slot is free; its tokens are corrected once charged.
    this.deps.deferred.awaitTokens(this.requestId, (n) => this.admission.settle(n));
    this.admission.release();
    const took = Math.round(performance.now() - this.started);
    this.deps.log.request({ request_id: this.requestId, account: p.accountId, key_id: p.keyId, endpoint: this.endpoint, model: this.model.id, deferred: true, upstream: this.upstream, status: 200, duration_ms: took });
  }

  /**
   * Releases the hold without a charge (the request failed before anything was delivered). A
   * release the storage refuses (a full disk) still leaves the request's line, and is retried.
   */
  async release(status: number, errorCode: string | null): Promise<void> {
    if (this.done) return;
    this.done = true;
    const row = this.row({ status, usage: NO_USAGE, estimated: false, errorCode }, 0);
    try {
      await this.deps.credits.release(this.requestId, { usage: row });
      this.recorded(row);
    } catch (e) {
      this.line(row, "release_not_recorded", 500, false);
      this.retryRelease(row);
      throw e;
    } finally {
      this.admission.settle(0);
      this.admission.release();
    }
  }

  /**
   * The request failed in a way no ending foresaw (an answer a reader choked on, absurd usage, a
   * bug): voids the hold and frees the admission unless a settlement took them already. Returns
   * the error to answer with: an ApiError as it is, anything else as the upstream's unreadable
   * answer (once settled, the error as it came: the upstream is not to blame for what follows).
   */
  async abandon(e: unknown): Promise<unknown> {
    if (this.done) return e;
    const err = e instanceof ApiError ? e : unreadable();
    if (err !== e) {
      this.deps.log.event("answer_unreadable", { request_id: this.requestId, error: String((e as Error)?.message ?? e).slice(0, 200) }, "warn");
    }
    await this.release(err.status, err.code ?? "upstream_malformed");
    return err;
  }

  /** Whose the stored object (and each item stored with it) is, on which upstream key, and its conversation's size. */
  private created({ id, items }: StoredRef, { usage: u, estimated }: Outcome, charge: number): Stored {
    const target = this.keyRef;
    if (!target) return {};
    const object: StoredObjectRow = {
      id,
      kind: "response",
      accountId: this.principal.accountId,
      keyId: this.principal.keyId,
      target,
      model: this.model.id,
      tokens: u.prompt + u.completion,
      chargeMicros: charge,
      createdAt: this.deps.now(),
    };
    // An estimated usage bounds nothing (its text at four bytes a token): the items' size stays unknown.
    return items.length ? { object, items, itemTokens: estimated ? 0 : outputItemTokens(u) } : { object };
  }

  /** Releases the hold of an answer not delivered (its charge or release failed to commit) once the storage takes it. */
  private retryRelease(row: UsageRecord): void {
    this.untilDurable(() =>
      this.deps.credits.release(this.requestId, { usage: row }).then((released) => {
        if (released) this.deps.metrics?.metered(row);
      }),
    );
  }

  /** Settles a charge that failed to commit again, until it is durable or its hold is gone. */
  private retry(cost: number, row: UsageRecord, object: Stored): void {
    this.untilDurable((attempt) =>
      this.settle(cost, row, object).then((settled) => {
        if (!settled) return;
        this.deps.metrics?.metered(row);
        this.deps.log.event("charge_recorded", { request_id: this.requestId, account: row.accountId, charge_micros: cost, attempts: attempt });
      }),
    );
  }

  /** Tries `write` again, backing off from a second up to 30 s, while the store keeps the request's hold for it. */
  private untilDurable(write: (attempt: number) => Promise<unknown>, attempt = 1): void {
    const again = () => write(attempt);
    // The store keeps the hold from the sweeper meanwhile, and tries `again` once more at its flush (a stop).
    if (!this.deps.credits.retain?.(this.requestId, again)) return;
    const next = () => void again().catch(() => this.untilDurable(write, attempt + 1));
    setTimeout(next, backoff(attempt)).unref?.();
  }

  /** The charge's settlement, with its usage row and the stored object it created. */
  private settle(cost: number, row: UsageRecord, object: Stored): Promise<SettleResult | null> {
    return this.deps.credits.settle(this.requestId, cost, { note: this.model.id, usage: row, ...object });
  }

  private recorded(row: UsageRecord): void {
    this.deps.metrics?.metered(row);
    this.line(row, row.errorCode, row.status);
  }

  /** The request's one log line (its charge, or why it has none yet). */
  private line(row: UsageRecord, errorCode: string | null, status: number, charged = true): void {
    this.deps.log.request(requestLine(row, { errorCode, status, attempts: this.attempts, charged }));
  }

  private row(o: Outcome, cost: number): UsageRecord {
    return {
      requestId: this.requestId,
      accountId: this.principal.accountId,
      keyId: this.principal.keyId,
      model: this.model.id,
      stream: this.stream,
      status: o.status,
      promptTokens: o.usage.prompt,
      cachedTokens: o.usage.cached,
      completionTokens: o.usage.completion,
      reasoningTokens: o.usage.reasoning,
      costMicros: cost,
      estimated: o.estimated,
      latencyMs: Math.round(performance.now() - this.started),
      ttftMs: o.ttftMs ?? null,
      upstreamRequestId: o.upstreamRequestId ?? null,
      errorCode: o.errorCode ?? null,
      createdAt: this.deps.now(),
      endpoint: this.endpoint,
      upstream: this.upstream,
      overageMicros: Math.max(0, cost - this.hold),
      upstreamCostMicros: upstreamCostFor(o.usage, this.model),
    };
  }
}

/** A second, doubling up to 30 s. */
const backoff = (attempt: number) => Math.min(30_000, 1_000 * 2 ** Math.min(attempt - 1, 5));
