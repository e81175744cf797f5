import { missing, referencesOf, type ReferringBody } from "./responses-refs";
import type { StoredGone } from "./types";

/** An upstream 404 that speaks of a model (and names none of the request's objects) is about the deployment. */
const ABOUT_MODEL = /\bmodel\b/i;

/**
 * An upstream 404 to a Responses request that names stored objects by id (previous_response_id,
 * item references), which the gateway still records as the caller's: the upstream no longer has
 * one (its retention ran out, or it was deleted with the shared key). The customer gets the 404
 * the gateway gives for an id it does not know, naming the one the upstream named (else the
 * previous response), and that record is dropped, as a read of it that meets a 404 does.
 */
export function responsesGone(body: ReferringBody, upstreamMessage: string): StoredGone | null {
  const refs = referencesOf(body).filter((r) => r.byId);
  if (refs.length === 0) return null;
  const named = refs.find((r) => upstreamMessage.includes(r.id));
  if (!named && ABOUT_MODEL.test(upstreamMessage)) return null;
  const ref = named ?? refs.find((r) => r.previous) ?? refs[0]!;
  // Without a name, only the previous response is known to be what is gone (its items went with it).
  return { error: missing(ref), forget: named || ref.previous ? ref.id : null };
}
