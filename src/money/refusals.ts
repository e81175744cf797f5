import { ApiError, errors } from "../lib/errors";
import { microsToUsd } from "./units";

/** 402 when the account's available credit does not cover a request. */
export const outOfCredit = (): ApiError =>
  errors.insufficientQuota("You have run out of credits: your available balance does not cover this request. Add credits to continue.");

/**
 * 402 when a key's own spending cap (shared with its replacements) is what refuses a request:
 * the account may hold plenty, so the message names the key and its cap, not the balance.
 */
export const spendCapReached = (keyId: string, cap: number, spent: number): ApiError =>
  errors.insufficientQuota(
    `This API key (${keyId}) has reached its spending cap: ${microsToUsd(Math.max(0, spent))} of ${microsToUsd(cap)} USD spent, ` +
      "not enough left for this request. Raise the key's cap or use another key.",
    "spend_cap_reached",
  );
