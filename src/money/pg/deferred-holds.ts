import { sql } from "drizzle-orm";
import type { PgStore } from "../../store/pg-store";
import { rows } from "../../store/work";
import type { PgCreditStore } from "./pg-credit-store";

/** How long an instance's heartbeat (every 5 s) counts it alive for its parked requests: its leases' TTL. */
const ALIVE_MS = 30_000;

type Parked = { request_id: string; account_id: string; key_id: string | null; cap_key_id: string | null; member_id: string | null; hold_micros: string | number };

/**
 * A deferred request's credit is held in the memory of the instance that parked it. Those no live
 * instance holds are taken over here: this instance's own from before a restart (`own`, at start),
 * those of instances gone (no heartbeat) and those parked before this was recorded. Each is
 * recorded as this instance's and held again (without a check: the credit was held all along),
 * detached until the request is settled, here or elsewhere. How many were taken over.
 */
export async function adoptDeferred(store: PgStore, credits: PgCreditStore, instanceId: string, now: number, own: boolean): Promise<number> {
  const mine = own ? sql`OR parked_by = ${instanceId}` : sql``;
  const taken = await store.tx((q) => rows<Parked>(sql`
    UPDATE deferred_requests SET parked_by = ${instanceId}
    WHERE settled_at IS NULL AND (parked_by IS NULL ${mine} OR parked_by NOT IN (SELECT id FROM instances WHERE seen_at > ${now - ALIVE_MS}))
    RETURNING request_id, account_id, key_id, cap_key_id, member_id, hold_micros`), { isolation: "read committed" });
  for (const d of taken) {
    if (credits.holding(d.request_id)) continue;
    const owners = { accountId: d.account_id, keyId: d.key_id, capKeyId: d.cap_key_id ?? d.key_id, memberId: d.member_id };
    const amount = Number(d.hold_micros);
    // Leased if the credit is there; held all the same if not (another instance spent it meanwhile).
    await credits.prepare(owners, amount).then((unpend) => unpend(), () => {});
    credits.reserve({ ...owners, requestId: d.request_id, amount, live: true, restore: true });
    credits.detach(d.request_id);
  }
  return taken.length;
}
