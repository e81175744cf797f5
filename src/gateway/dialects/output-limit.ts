import { isPositiveInt } from "../../lib/checks";

/**
 * Every body field an upstream may read as the output limit, whatever the API: chat's two,
 * the Responses API's, and llama.cpp's n_predict (which wins over max_tokens there). A body
 * may set several, and which one an upstream obeys is its own choice.
 */
const LIMIT_FIELDS = ["max_completion_tokens", "max_tokens", "max_output_tokens", "n_predict"] as const;

export interface OutputLimit {
  /** The smallest limit the body sets (null: none). */
  limit: number | null;
  /** The field it came from (`native` when none), for the 402 that names it. */
  param: string;
}

/** The request's output limit: the smallest positive integer any limit field sets, so the hold is the worst case whichever the upstream reads. */
export function outputLimit(body: object, native: string): OutputLimit {
  const b = body as Record<string, unknown>;
  let limit: number | null = null;
  let param = native;
  for (const f of LIMIT_FIELDS) {
    const v = b[f];
    if (isPositiveInt(v) && (limit === null || v < limit)) (limit = v), (param = f);
  }
  return { limit, param };
}

/**
 * Writes the limit the hold covers into the upstream body: into every limit field the client
 * set to a number (no upstream can then read a larger one; a null field sets no limit and is sent
 * as it came: OpenAI's reasoning models refuse any numeric max_tokens), and into `field` when none
 * of the API's own `natives` is set (an upstream ignores the others). With no limit, the limit
 * fields the client set are not limits (null, or not a positive integer) and are dropped.
 */
export function sendLimit(b: Record<string, unknown>, limit: number | null, natives: readonly string[], field: string): void {
  for (const f of LIMIT_FIELDS) {
    if (b[f] === undefined) continue;
    if (limit === null) delete b[f];
    else if (b[f] !== null) b[f] = limit;
  }
  if (limit !== null && !natives.some((f) => b[f] != null)) b[field] = limit;
}
