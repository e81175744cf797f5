import { eq, or } from "drizzle-orm";
import type { Config } from "../../config/load";
import type { Store } from "../../store/store";
import type { alertEvents } from "../../store/schema";
import { all, get, run } from "../../store/work";
import { microsToUsd } from "../../money/units";
import { signPayload } from "./signature";
import { createLog, redacted, type Log } from "../../lib/log";
import { Mailer } from "../../lib/mailer";

/** A delivery error as the log shows it: URLs cut to their origin (a path or query may hold a token). */

export type AlertEventRow = typeof alertEvents.$inferSelect;
type Channel = "webhook" | "email";

export interface NotifierOptions {
  /** Delay before each retry; its length is the number of retries. */
  retryDelaysMs?: number[];
  fetch?: typeof fetch;
  now?: () => number;
  /** Where failed deliveries are reported (one line each). */
  log?: Log;
}

/**
 * Delivers alert events outside every transaction: a signed webhook and/or an email, each channel
 * retried with backoff until sent or out of retries. The outcome is kept on the event row, so the
 * portal shows it and a restarted process resumes what was still pending.
 */
export class AlertNotifier {
  private readonly retryDelays: number[];
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly log: Log;
  private readonly mailer: Mailer;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private inFlight = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly store: Store, private readonly config: Config, opts: NotifierOptions = {}) {
    this.retryDelays = opts.retryDelaysMs ?? [5_000, 30_000, 120_000, 600_000, 1_800_000];
    this.fetch = opts.fetch ?? fetch;
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? createLog("off");
    this.mailer = new Mailer(config);
  }

  /** Statuses a new event starts with: channels that are not configured are skipped. */
  initialStatus(): { webhookStatus: string; emailStatus: string } {
    return {
      webhookStatus: this.config.alert_webhook_url ? "pending" : "skipped",
      emailStatus: this.config.smtp_host ? "pending" : "skipped",
    };
  }

  get channels(): { webhook: boolean; email: boolean } {
    return { webhook: Boolean(this.config.alert_webhook_url), email: Boolean(this.config.smtp_host) };
  }

  enqueue(eventId: string): void {
    if (this.stopped) return;
    const p = this.deliver(eventId)
      .catch((e) => this.log.event("alert_delivery_failed", { alert_id: eventId, error: redacted(e) }, "error"))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Re-queues events left pending by a previous process (called once at start). */
  async resume(): Promise<number> {
    const rows = await this.store.read((q) => {
      const e = q.t.alertEvents;
      return all(q.db.select({ id: e.id }).from(e).where(or(eq(e.webhookStatus, "pending"), eq(e.emailStatus, "pending"))).orderBy(e.createdAt, e.id));
    });
    for (const r of rows) this.enqueue(r.id);
    return rows.length;
  }

  /** Resolves when no delivery is in flight (retries waiting on a timer do not count). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.mailer.close();
  }

  private async deliver(eventId: string): Promise<void> {
    const event = await this.store.read((q) => get(q.db.select().from(q.t.alertEvents).where(eq(q.t.alertEvents.id, eventId))));
    if (!event) return;
    const account = await this.store.read((q) => get(q.db.select().from(q.t.accounts).where(eq(q.t.accounts.id, event.accountId))));
    const pending: Channel[] = [];
    if (event.webhookStatus === "pending") pending.push("webhook");
    if (event.emailStatus === "pending") pending.push("email");
    if (pending.length === 0) return;
    const errors: string[] = [];
    const results: Partial<Record<Channel, "sent" | "skipped">> = {};
    for (const channel of pending) {
      try {
        results[channel] = channel === "webhook" ? await this.sendWebhook(event, account) : await this.sendEmail(event, account);
      } catch (e) {
        errors.push(`${channel}: ${(e as Error).message}`);
      }
    }
    if (this.stopped) return;
    const attempts = event.attempts + 1;
    const retry = errors.length > 0 && attempts <= this.retryDelays.length;
    const failedStatus = retry ? "pending" : "failed";
    const outcome = {
      attempts,
      lastError: errors.length ? errors.join("; ").slice(0, 500) : null,
      ...(pending.includes("webhook") ? { webhookStatus: results.webhook ?? failedStatus } : {}),
      ...(pending.includes("email") ? { emailStatus: results.email ?? failedStatus } : {}),
    };
    await this.store.tx((q) => run(q.db.update(q.t.alertEvents).set(outcome).where(eq(q.t.alertEvents.id, eventId))));
    if (errors.length) {
      const error = redacted(errors.join("; "));
      this.log.event("alert_delivery_failed", { alert_id: eventId, attempt: attempts, retrying: retry, error }, retry ? "warn" : "error");
    }
    if (retry) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.enqueue(eventId);
      }, this.retryDelays[attempts - 1]);
      timer.unref?.();
      this.timers.add(timer);
    }
  }

  payload(event: AlertEventRow, account: { id: string; name: string } | undefined): string {
    return JSON.stringify({
      id: event.id,
      type: "account.low_balance",
      created: Math.floor(event.createdAt / 1000),
      data: {
        account_id: event.accountId,
        account_name: account?.name ?? null,
        available_micros: event.availableMicros,
        available_usd: microsToUsd(event.availableMicros),
        threshold_micros: event.thresholdMicros,
        threshold_usd: microsToUsd(event.thresholdMicros),
      },
    });
  }

  private async sendWebhook(event: AlertEventRow, account: { id: string; name: string } | undefined): Promise<"sent"> {
    const body = this.payload(event, account);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "Tollgate-Alerts/1",
      "x-tollgate-event": "account.low_balance",
      "x-tollgate-delivery": event.id,
    };
    // Config guarantees the secret whenever a URL is set.
    headers["x-tollgate-signature"] = signPayload(this.config.alert_webhook_secret ?? "", body, Math.floor(this.now() / 1000));
    const res = await this.fetch(this.config.alert_webhook_url!, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`webhook answered ${res.status}`);
    return "sent";
  }

  private async sendEmail(event: AlertEventRow, account: { name: string; email: string | null } | undefined): Promise<"sent" | "skipped"> {
    const to = account?.email;
    const bcc = this.config.alert_email_to;
    if (!to && !bcc) return "skipped";
    const available = microsToUsd(event.availableMicros);
    const where = this.config.public_url ? `\n\nAdd credits: ${this.config.public_url.replace(/\/+$/, "")}/portal/billing` : "";
    await this.mailer.send({
      to: (to ?? bcc)!,
      ...(to && bcc ? { bcc } : {}),
      subject: `Low balance: ${available} USD of API credit left`,
      text:
        `The available credit of ${account?.name ?? event.accountId} (${event.accountId}) is ${available} USD, ` +
        `below the alert threshold of ${microsToUsd(event.thresholdMicros)} USD.` +
        `${where}\n\nYou get this once each time the balance falls below the threshold.`,
      headers: { "X-Tollgate-Event": "account.low_balance", "X-Tollgate-Delivery": event.id },
    });
    return "sent";
  }
}
