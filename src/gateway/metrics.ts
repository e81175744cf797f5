import type { UsageRecord } from "../money/credit-store";
import { Exposition, Histogram } from "../lib/exposition";

/** Seconds: a completion takes from tens of milliseconds to minutes. */
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const TTFT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Counts by a label and an HTTP status: nested maps, so that counting builds no key string (a new
 * string per request would be allocated and hashed on every call).
 */
class StatusCounts {
  private readonly byLabel = new Map<string, Map<number, number>>();

  add(label: string, status: number): void {
    let m = this.byLabel.get(label);
    if (!m) this.byLabel.set(label, (m = new Map()));
    m.set(status, (m.get(status) ?? 0) + 1);
  }

  /** [label, status, count], sorted as their "label|status" keys would be. */
  sorted(): [string, number, number][] {
    const rows: [string, number, number][] = [];
    for (const [label, m] of this.byLabel) for (const [status, n] of m) rows.push([label, status, n]);
    return rows.sort((a, b) => `${a[0]}|${a[1]}`.localeCompare(`${b[0]}|${b[1]}`));
  }
}

interface ModelSeries {
  /** Metered requests by endpoint and status: non-streaming, streaming. */
  requests: [StatusCounts, StatusCounts];
  prompt: number;
  cached: number;
  completion: number;
  reasoning: number;
  micros: number;
  estimated: number;
  /** Charged beyond the hold (the upstream reported more than the worst case), and how often. */
  overageMicros: number;
  overages: number;
  /** Non-streaming, streaming. */
  duration: [Histogram, Histogram];
  ttft: Histogram;
}

/**
 * Counters of the chat route, kept in memory since the process started (Prometheus computes
 * rates from them). Per model from the usage rows the meter writes, so that they agree with the
 * usage log and the ledger; the model is always a configured one, so the label set stays small.
 */
export class ChatMetrics {
  /** Responses of the metered routes by endpoint and status. */
  private readonly responses = new StatusCounts();
  private readonly models = new Map<string, ModelSeries>();

  /** Every response of a metered route, refusals (401, 402, 429, ...) included. */
  response(status: number, endpoint = "chat.completions"): void {
    this.responses.add(endpoint, status);
  }

  /** A request that held credit and went upstream, charged or released (its usage row). */
  metered(u: UsageRecord): void {
    let s = this.models.get(u.model);
    if (!s) {
      s = {
        requests: [new StatusCounts(), new StatusCounts()],
        prompt: 0,
        cached: 0,
        completion: 0,
        reasoning: 0,
        micros: 0,
        estimated: 0,
        overageMicros: 0,
        overages: 0,
        duration: [new Histogram(DURATION_BUCKETS), new Histogram(DURATION_BUCKETS)],
        ttft: new Histogram(TTFT_BUCKETS),
      };
      this.models.set(u.model, s);
    }
    s.requests[u.stream ? 1 : 0].add(u.endpoint ?? "chat.completions", u.status);
    s.prompt += u.promptTokens;
    s.cached += u.cachedTokens;
    s.completion += u.completionTokens;
    s.reasoning += u.reasoningTokens;
    s.micros += u.costMicros;
    if (u.estimated && u.costMicros > 0) s.estimated++;
    if (u.overageMicros) {
      s.overageMicros += u.overageMicros;
      s.overages++;
    }
    s.duration[u.stream ? 1 : 0].observe(u.latencyMs / 1000);
    if (u.ttftMs !== null) s.ttft.observe(u.ttftMs / 1000);
  }

  write(out: Exposition): void {
    out.family("tollgate_chat_responses_total", "counter", "Responses of the metered APIs by endpoint and HTTP status, refusals included.");
    for (const [endpoint, status, n] of this.responses.sorted()) {
      out.sample("tollgate_chat_responses_total", { endpoint, status: String(status) }, n);
    }

    const models = [...this.models].sort((a, b) => a[0].localeCompare(b[0]));
    out.family("tollgate_chat_requests_total", "counter", "Requests that held credit and went upstream, by endpoint, model, streaming and the status in the usage log.");
    for (const [model, s] of models) {
      s.requests.forEach((counts, i) => {
        for (const [endpoint, status, n] of counts.sorted()) {
          out.sample("tollgate_chat_requests_total", { endpoint, model, stream: String(i === 1), status: String(status) }, n);
        }
      });
    }
    out.family("tollgate_tokens_total", "counter", "Tokens billed, by model and type (completion includes reasoning; cached is part of prompt).");
    for (const [model, s] of models) {
      for (const [type, n] of [["prompt", s.prompt], ["cached", s.cached], ["completion", s.completion], ["reasoning", s.reasoning]] as const) {
        out.sample("tollgate_tokens_total", { model, type }, n);
      }
    }
    out.family("tollgate_charged_micros_total", "counter", "Credit charged, in micro-credits (1 credit = 1 USD = 1,000,000), by model.");
    for (const [model, s] of models) out.sample("tollgate_charged_micros_total", { model }, s.micros);
    out.family("tollgate_estimated_charges_total", "counter", "Charges billed from an estimate because the upstream reported no usage, by model.");
    for (const [model, s] of models) out.sample("tollgate_estimated_charges_total", { model }, s.estimated);
    out.family("tollgate_overage_charges_total", "counter", "Charges above the request's hold (usage beyond the worst case, e.g. reasoning), by model.");
    for (const [model, s] of models) out.sample("tollgate_overage_charges_total", { model }, s.overages);
    out.family("tollgate_overage_micros_total", "counter", "Micro-credits charged above the holds, by model (the balance may go below zero by that much).");
    for (const [model, s] of models) out.sample("tollgate_overage_micros_total", { model }, s.overageMicros);
    out.family("tollgate_chat_duration_seconds", "histogram", "Time from the request to the end of its answer or stream, by model and streaming.");
    for (const [model, s] of models) {
      s.duration.forEach((h, i) => {
        if (h.count > 0) out.histogram("tollgate_chat_duration_seconds", { model, stream: i === 1 }, h);
      });
    }
    out.family("tollgate_time_to_first_token_seconds", "histogram", "Time from the request to the first content token of a stream, by model.");
    for (const [model, s] of models) if (s.ttft.count > 0) out.histogram("tollgate_time_to_first_token_seconds", { model }, s.ttft);
  }
}
