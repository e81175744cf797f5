import type { Model } from "../config/load";
import type { MeterDeps } from "./deps";
import type { Principal } from "./key-auth";
import type { UsageRecord } from "../money/credit-store";
import type { Admission } from "./limits/limiter";
import { costMicros, type Usage } from "./providers/usage";

export interface Outcome {
  status: number;
  /** Real upstream usage, or an estimate (then `estimated`). */
  usage: Usage;
  estimated: boolean;
  errorCode?: string | null;
  ttftMs?: number | null;
  upstreamRequestId?: string | null;
}

/**
 * The money side of one proxied request: it settles or releases the hold exactly once, writes
 * the usage row in the same transaction, and corrects and frees the rate-limit admission.
 */
export class Meter {
  private done = false;
  private readonly started = performance.now();

  constructor(
    private readonly deps: MeterDeps,
    private readonly requestId: string,
    private readonly principal: Principal,
    private readonly model: Model,
    private readonly stream: boolean,
    private readonly hold: number,
    private readonly admission: Admission,
  ) {}

  get finished(): boolean {
    return this.done;
  }

  /** Charges usage × price (never more than the hold). Resolves once the charge is durable. */
  async charge(o: Outcome): Promise<number> {
    if (this.done) return 0;
    this.done = true;
    const cost = Math.min(costMicros(o.usage, this.model), this.hold);
    const row = this.row(o, cost);
    try {
      await this.deps.credits.settle(this.requestId, cost, { note: this.model.id, usage: row });
      this.deps.metrics?.metered(row);
    } finally {
      this.admission.settle(o.usage.prompt + o.usage.completion);
      this.admission.release();
    }
    return cost;
  }

  /** Releases the hold without a charge (the request failed before anything was delivered). */
  async release(status: number, errorCode: string | null): Promise<void> {
    if (this.done) return;
    this.done = true;
    const none = { prompt: 0, cached: 0, completion: 0, reasoning: 0 };
    const row = this.row({ status, usage: none, estimated: false, errorCode }, 0);
    try {
      await this.deps.credits.release(this.requestId, { usage: row });
      this.deps.metrics?.metered(row);
    } finally {
      this.admission.settle(0);
      this.admission.release();
    }
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
    };
  }
}
