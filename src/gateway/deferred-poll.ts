import type { DeferredRequests, DeferredRow, PendingKey } from "./deferred";

/** Runs come every minute, give or take: an interval is judged with this much to spare. */
export const SLACK_MS = 5_000;
/** Pending requests read per slice: the event loop gets a turn between two, however long the backlog. */
const SLICE = 5_000;

/**
 * How long the poller waits between two asks for a pending result `ageMs` old: a minute for its
 * first 10 minutes, 5 for its first hour, then 30. A result nobody fetches and the upstream keeps
 * working on costs the shared key less and less, however the runs fall.
 */
export function pollInterval(ageMs: number): number {
  return (ageMs < 600_000 ? 60_000 : ageMs < 3_600_000 ? 300_000 : 1_800_000) - SLACK_MS;
}

/**
 * The pending requests older than `minAgeMs` whose interval since the last ask has passed, at most
 * `max`, shared out between accounts: each account's longest unasked first, one account's turn
 * after another's, so that one customer's backlog never holds back another's requests. The
 * backlog is read in slices of ids and ages only, the event loop served between slices; the
 * chosen requests are then read whole. Forgets the last asks of requests no longer pending.
 */
export async function duePolls(deferred: DeferredRequests, now: number, minAgeMs: number, max: number): Promise<DeferredRow[]> {
  const polled = deferred.polled;
  const last = (id: string) => polled.get(id) ?? Number.NEGATIVE_INFINITY;
  // Per account, the due requests by when they were last asked (a run's time, so few distinct), each list oldest first.
  const byAccount = new Map<string, Map<number, string[]>>();
  const pending = new Set<string>();
  let after: PendingKey | null = null;
  for (;;) {
    const keys = await deferred.pendingKeys(now - minAgeMs, after, SLICE);
    for (const k of keys) {
      pending.add(k.requestId);
      const asked = last(k.requestId);
      if (now - asked < pollInterval(now - k.createdAt)) continue;
      let groups = byAccount.get(k.accountId);
      if (!groups) byAccount.set(k.accountId, (groups = new Map()));
      const list = groups.get(asked);
      if (list) list.push(k.requestId);
      else groups.set(asked, [k.requestId]);
    }
    if (keys.length < SLICE) break;
    after = keys[keys.length - 1]!;
    await new Promise((resolve) => setImmediate(resolve));
  }
  for (const id of polled.keys()) if (!pending.has(id)) polled.delete(id);
  return deferred.pendingRows(inTurns(byAccount, max));
}

/**
 * Up to `max` ids, one account after another: each account's longest unasked first (never asked
 * before asked), the accounts in the order of their longest unasked. Linear in the backlog: only
 * the distinct times of asking are sorted, and no account gives more than `max`.
 */
function inTurns(byAccount: Map<string, Map<number, string[]>>, max: number): string[] {
  const queues = [...byAccount.values()].map((groups) => {
    const times = [...groups.keys()].sort((a, b) => a - b);
    const ids: string[] = [];
    for (const t of times) {
      for (const id of groups.get(t)!) {
        if (ids.length === max) break;
        ids.push(id);
      }
    }
    return { first: times[0]!, ids };
  });
  queues.sort((a, b) => a.first - b.first);
  const out: string[] = [];
  for (let turn = 0; out.length < max; turn++) {
    let any = false;
    for (const q of queues) {
      if (turn >= q.ids.length) continue;
      any = true;
      out.push(q.ids[turn]!);
      if (out.length === max) break;
    }
    if (!any) break;
  }
  return out;
}
