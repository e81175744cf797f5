import { ApiError } from "../../lib/errors";
import { remaining, UNIT, waitMs } from "./bucket";
import { formatDuration } from "./duration";
import { describe, type LevelState, render } from "./levels";

/** Concurrency-cap 429s ask for a short, fixed back-off: a slot frees when some request ends. */
const CONCURRENCY_RETRY_MS = 1000;

/** The bucket that makes a request wait longest, and for how long (ms). */
export interface Binding {
  s: LevelState;
  type: "requests" | "tokens";
  wait: number;
}

/** The bucket a request would wait longest for; undefined when every bucket has room now. */
export function bindingWait(states: LevelState[], est: number): Binding | undefined {
  let wait = 0;
  let binding: LevelState | undefined;
  let type: Binding["type"] = "requests";
  for (const s of states) {
    const r = waitMs(s.req, UNIT, s.level.limits.rpm);
    if (r > wait) (wait = r), (binding = s), (type = "requests");
    const t = waitMs(s.tok, est * UNIT, s.level.limits.tpm);
    if (t > wait) (wait = t), (binding = s), (type = "tokens");
  }
  // Built only on refusal: an admitted request allocates nothing here.
  return binding && { s: binding, type, wait };
}

/**
 * An RPM 429 whose refusal costs its own request too (one read after its body: refusedAfterBody):
 * it waits for that request as well. Undefined unless a request bucket binds (`states`, as the
 * answer reports them: `shown`).
 */
export function countingItsRequest(states: LevelState[], shown: LevelState[], est: number): ApiError | undefined {
  if (states.some((s) => est > s.level.limits.tpm) || bindingWait(states, est)?.type !== "requests") return undefined;
  let worst: Binding | undefined;
  for (const [i, s] of states.entries()) {
    const wait = waitMs(s.req, 2 * UNIT, s.level.limits.rpm);
    if (wait > (worst?.wait ?? 0)) worst = { s: shown[i]!, type: "requests", wait };
  }
  return mustWait(worst!, est, shown);
}

/** A request bigger than a token bucket can ever hold: retrying cannot help, so it says not to. */
export function tooLarge(s: LevelState, est: number, states: LevelState[]): ApiError {
  return new ApiError(
    429,
    `Request too large on tokens per min (TPM) for ${describe(s.level)}: Limit ${s.level.limits.tpm}, Requested ${est}. ` +
      "Reduce the input or max_tokens (max_completion_tokens) so that the request fits.",
    "tokens",
    "rate_limit_exceeded",
    null,
    { ...render(states), "x-should-retry": "false" },
  );
}

/** OpenAI's wording for an empty request or token bucket, with the wait of the binding one. */
export function mustWait(binding: Binding, est: number, states: LevelState[]): ApiError {
  const { s, type, wait } = binding;
  const limit = type === "requests" ? s.level.limits.rpm : s.level.limits.tpm;
  const left = remaining(type === "requests" ? s.req : s.tok);
  const what = type === "requests" ? "requests per min (RPM)" : "tokens per min (TPM)";
  return rateLimited(
    `Rate limit reached for ${describe(s.level)} on ${what}: Limit ${limit}, Remaining ${left}, Requested ${type === "requests" ? 1 : est}. ` +
      `Please try again in ${formatDuration(wait)}.`,
    type,
    wait,
    render(states),
  );
}

export function tooManyConcurrent(s: LevelState, states: LevelState[]): ApiError {
  return rateLimited(
    `Too many concurrent requests for ${describe(s.level)}: Limit ${s.level.limits.concurrency} concurrent requests. ` +
      "Please try again in 1s.",
    "requests",
    CONCURRENCY_RETRY_MS,
    render(states),
  );
}

function rateLimited(message: string, type: "requests" | "tokens", waitMsValue: number, headers: Record<string, string>): ApiError {
  return new ApiError(429, message, type, "rate_limit_exceeded", null, {
    ...headers,
    "retry-after": String(Math.ceil(waitMsValue / 1000)),
    "retry-after-ms": String(waitMsValue),
  });
}
