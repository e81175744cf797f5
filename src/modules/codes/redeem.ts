import type { AttemptGate } from "../../identity/attempt-gate";
import { ApiError } from "../../lib/errors";
import type { Store } from "../../store/store";
import type { CreditWatch } from "../alerts/credits";
import { redeemCode } from "./service";

/**
 * Redeems a code for an account, at most 20 failed tries an hour: codes are not to be guessed, and
 * a wrong one costs a database read. Tries in flight are bounded with the failures (the gate), so
 * concurrent guesses cannot all be tried, and a good code is never counted as a failure.
 */
export async function throttledRedeem(store: Store, gate: AttemptGate, accountId: string, code: string, actor: string, now: number, watch?: CreditWatch) {
  const wait = await gate.enter(accountId);
  if (wait > 0) {
    const seconds = Math.ceil(wait / 1000);
    throw new ApiError(429, `Too many codes that did not redeem. Try again in ${Math.ceil(seconds / 60)} minute(s).`, "requests", "too_many_code_attempts", "code", {
      "retry-after": String(seconds),
    });
  }
  let failed = true;
  try {
    const r = await redeemCode(store, accountId, code, actor, now, watch);
    failed = false;
    return r;
  } finally {
    gate.leave(accountId, failed);
  }
}
