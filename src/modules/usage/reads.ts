import { ApiError } from "../../lib/errors";
import { InFlightCap } from "../../lib/in-flight";

/**
 * Usage reads one account may have under way at once. A read sums the whole filtered range (a
 * long history: hundreds of milliseconds of CPU, in slices); without a cap, one account reading
 * in many loops at once would take the CPU every other account's requests need.
 */
export const USAGE_READS_PER_ACCOUNT = 2;

/** 429 in the OpenAI envelope: the account has USAGE_READS_PER_ACCOUNT reads under way; one ends soon. */
export const tooManyUsageReads = (): ApiError =>
  new ApiError(
    429,
    `Too many usage reads at once for this account: at most ${USAGE_READS_PER_ACCOUNT} may run at the same time. Please try again in 1s.`,
    "requests",
    "too_many_usage_reads",
    null,
    { "retry-after": "1", "retry-after-ms": "1000" },
  );

/** Runs one usage read of `accountId` (released when it ends, however), or throws 429 too_many_usage_reads. */
export const boundedUsageRead = <T>(cap: InFlightCap<string>, accountId: string, read: () => Promise<T>): Promise<T> =>
  cap.run(accountId, read, tooManyUsageReads);
