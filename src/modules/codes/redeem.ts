import { takeAttempt, type LoginThrottle } from "../../identity/sessions";
import { ApiError } from "../../lib/errors";
import type { Store } from "../../store/store";
import type { CreditWatch } from "../alerts/credits";
import { redeemCode } from "./service";

/**
 * Redeems a code for an account, at most 20 failed tries an hour (counted as they start, so that
 * concurrent ones count): codes are not to be guessed, and a wrong one costs a database read.
 */
export async function throttledRedeem(store: Store, throttle: LoginThrottle, accountId: string, code: string, actor: string, now: number, watch?: CreditWatch) {
  const wait = takeAttempt([throttle, accountId]);
  if (wait > 0) {
    const seconds = Math.ceil(wait / 1000);
    throw new ApiError(429, `Too many codes that did not redeem. Try again in ${Math.ceil(seconds / 60)} minute(s).`, "requests", "too_many_code_attempts", "code", {
      "retry-after": String(seconds),
    });
  }
  const r = await redeemCode(store, accountId, code, actor, now, watch);
  throttle.giveBack(accountId);
  return r;
}
