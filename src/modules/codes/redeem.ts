import type { AttemptGate } from "../../identity/attempt-gate";
import { ApiError } from "../../lib/errors";
import type { Store } from "../../store/store";
import type { CreditWatch } from "../alerts/credits";
import { redeemCode } from "./service";

/** The answers that say the code itself did not redeem: unknown, used elsewhere or expired. */
const CODE_FAILURES = new Set(["code_not_found", "code_already_redeemed", "code_expired"]);

/** A failure the gate counts: the code's own, never the storage's or the account's (a retry of a good code must still work). */
const codeFailed = (err: unknown) => err instanceof ApiError && err.code !== null && CODE_FAILURES.has(err.code);

/**
 * Redeems a code for an account, at most 20 failed tries an hour: codes are not to be guessed, and
 * a wrong one costs a database read. Tries in flight are bounded with the failures (the gate), so
 * concurrent guesses cannot all be tried, and a good code is never counted as a failure, even when
 * the storage refused it.
 */
export async function throttledRedeem(store: Store, gate: AttemptGate, accountId: string, code: string, actor: string, now: number, watch?: CreditWatch) {
  const wait = await gate.enter(accountId);
  if (wait > 0) {
    const seconds = Math.ceil(wait / 1000);
    throw new ApiError(429, `Too many codes that did not redeem. Try again in ${Math.ceil(seconds / 60)} minute(s).`, "requests", "too_many_code_attempts", "code", {
      "retry-after": String(seconds),
    });
  }
  let failed = false;
  try {
    return await redeemCode(store, accountId, code, actor, now, watch);
  } catch (err) {
    failed = codeFailed(err);
    throw err;
  } finally {
    gate.leave(accountId, failed);
  }
}
