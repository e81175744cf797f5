import type { PgStore } from "../../store/pg-store";
import type { LeaseBook } from "./lease-book";
import { overLeased } from "./lease-sql";

/**
 * After a change notification, before the next hold: a refund or a lost dispute debits a balance
 * without touching the leases on it, so the accounts leased above their balance are checked again
 * (the lease is cut to what the balance and the holds in flight allow). One read per notification.
 */
export class BalanceFence {
  /** The change stamp under which the account leases were last checked against their balances. */
  private fenced = -1;
  private fencing: Promise<void> | null = null;

  constructor(private readonly store: PgStore, private readonly leases: LeaseBook, private readonly now: () => number) {}

  async pass(): Promise<void> {
    const stamp = this.store.changeStamp();
    if (stamp === this.fenced) return;
    this.fencing ??= this.recheck(stamp).finally(() => (this.fencing = null));
    await this.fencing;
  }

  private async recheck(stamp: number): Promise<void> {
    const scopes = this.leases.unused("acc:");
    if (scopes.length > 0) for (const s of await this.store.read((q) => overLeased(q, scopes, this.now()))) this.leases.recheck(s);
    this.fenced = stamp;
  }
}
