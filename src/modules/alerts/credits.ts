import { postCredit, type PostCredit } from "../../money/ledger";
import type { Store } from "../../store/store";
import type { Q, Work } from "../../store/work";

/** A credit's part in the low-balance alert: run in the credit's unit of work, after the credit (ledger entry `ledgerId`). */
export type CreditNote = (q: Q, ledgerId: number) => Work<void>;

/** Gives the note of a credit about to be posted (AlertService.creditNote): take it before the transaction. */
export interface CreditWatch {
  creditNote(accountId: string): CreditNote | null;
}

/**
 * postCredit, and for a credit the low-balance alert's decision in the same transaction, so that
 * no check sees the credit before it is decided. Adjustments (negative) are postCredit's alone.
 */
export function postWatchedCredit(store: Store, watch: CreditWatch | undefined, p: PostCredit, now: number) {
  const note = p.amountMicros > 0 ? watch?.creditNote(p.accountId) : null;
  return postCredit(store, p, now, note ?? undefined);
}
