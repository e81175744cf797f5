import { errors } from "../lib/errors";
import type { Admitted } from "./admission";

/** A request ended by the gateway's shutdown (after the grace period). */
export const shuttingDown = () =>
  errors.upstream(503, "The gateway is restarting. Please retry in a moment.", "server_shutting_down", { "retry-after": "1" });

/** Charges the prompt of a request whose client left while the upstream had it (estimated). */
export const chargePrompt = (a: Admitted, code: string) =>
  a.meter.charge({ status: 499, usage: { prompt: a.plan.promptEstimate, cached: 0, completion: 0, reasoning: 0 }, estimated: true, errorCode: code });

/** What a client that went away gets (nobody reads it): the request's own headers. */
export const clientGone = (a: Admitted) => new Response(null, { status: 499, headers: a.headers });
