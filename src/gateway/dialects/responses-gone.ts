import { namesObject } from "../providers/errors";
import { missing, referencesOf, type ReferringBody } from "./responses-refs";
import type { StoredGone } from "./types";

/**
 * An upstream 404 to a Responses request that names stored objects by id (previous_response_id,
 * item references), which the gateway still records as the caller's: the upstream no longer has
 * one (its retention ran out, or it was deleted with the shared key). Only a 404 that names the
 * object says so: the customer gets the 404 the gateway gives for an id it does not know, naming
 * it, and that record is dropped, as a read of it that meets a 404 does. Any other 404 (the
 * model's, a missing route's) stays the deployment's failure, and every record is kept.
 */
export function responsesGone(body: ReferringBody, upstreamMessage: string): StoredGone | null {
  const refs = referencesOf(body).filter((r) => r.byId);
  if (refs.length === 0) return null;
  const named = refs.find((r) => namesObject(upstreamMessage, r.id));
  return named ? { error: missing(named), forget: named.id } : null;
}
