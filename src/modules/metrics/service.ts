import { count, sql } from "drizzle-orm";
import type { AppDeps } from "../../runtime/deps";
import { get } from "../../store/work";
import { listUpstreams } from "../upstreams/service";
import { ChatMetrics } from "../../gateway/metrics";
import { Exposition } from "../../lib/exposition";
import { SqliteStore } from "../../store/sqlite-store";

const BREAKER = { closed: 0, half_open: 1, open: 2 } as const;

/** What GET /metrics answers: the chat counters, then gauges read at scrape time. */
export async function renderMetrics(deps: AppDeps): Promise<string> {
  const out = new Exposition();
  (deps.metrics ?? new ChatMetrics()).write(out);

  const up = listUpstreams(deps.upstreams);
  if (deps.instanceId) {
    // Prometheus sets its own `instance` (the scrape target): the gateway's name is a label of its own.
    out.family("tollgate_instance_info", "gauge", "This gateway instance on a shared database.").sample("tollgate_instance_info", { instance_id: deps.instanceId }, 1);
  }
  out.family("tollgate_chat_in_flight", "gauge", "Proxied requests in flight.").sample("tollgate_chat_in_flight", {}, up.in_flight);
  out.family("tollgate_upstream_breaker_state", "gauge", "Circuit breaker of each upstream key: 0 closed, 1 half-open, 2 open.");
  for (const u of up.data) out.sample("tollgate_upstream_breaker_state", { upstream: u.id, provider: u.provider }, BREAKER[u.state]);
  out.family("tollgate_upstream_attempts_total", "counter", "Attempts sent to each upstream key (retries and failovers included).");
  for (const u of up.data) out.sample("tollgate_upstream_attempts_total", { upstream: u.id, provider: u.provider }, u.requests);
  out.family("tollgate_upstream_failures_total", "counter", "Failed attempts of each upstream key.");
  for (const u of up.data) out.sample("tollgate_upstream_failures_total", { upstream: u.id, provider: u.provider }, u.failures);

  // The prepaid credit customers still hold: what the operator owes in service.
  const balances = await deps.store.read(function* (q) {
    const a = q.t.accounts;
    return (yield* get(q.db.select({ n: count(), total: sql`coalesce(sum(${a.balanceMicros}), 0)`.mapWith(Number) }).from(a)))!;
  });
  out.family("tollgate_accounts", "gauge", "Customer accounts.").sample("tollgate_accounts", {}, balances.n);
  out
    .family("tollgate_account_balance_micros", "gauge", "Sum of all account balances, in micro-credits (charges made so far included).")
    .sample("tollgate_account_balance_micros", {}, balances.total);

  if (deps.store instanceof SqliteStore) {
    out
      .family("tollgate_sqlite_checkpoint_thread", "gauge", "1 while SQLite's WAL checkpoints run on a thread of their own, 0 while they run on the event loop (before the first write, or after that thread failed).")
      .sample("tollgate_sqlite_checkpoint_thread", {}, deps.store.checkpointsOffThread ? 1 : 0);
  }
  const cpu = process.cpuUsage();
  out.family("process_cpu_seconds_total", "counter", "User and system CPU time of the process.").sample("process_cpu_seconds_total", {}, (cpu.user + cpu.system) / 1e6);
  out.family("process_resident_memory_bytes", "gauge", "Resident memory of the process.").sample("process_resident_memory_bytes", {}, process.memoryUsage.rss());
  out.family("process_start_time_seconds", "gauge", "When the process started, in Unix seconds.").sample("process_start_time_seconds", {}, performance.timeOrigin / 1000);
  return out.toString();
}
