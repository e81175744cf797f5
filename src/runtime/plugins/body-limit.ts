import { Elysia } from "elysia";
import { refuseDeclaredOver } from "../../lib/body-cap";

/**
 * Refuses a declared body above `limit` bytes with a 413 in the OpenAI envelope. Bun's own
 * maxRequestBodySize (set higher, in server.ts) stays as the hard backstop for bodies without a
 * content-length; it answers a bare 413 that no handler sees.
 */
export const bodyLimit = (limit: number) =>
  new Elysia({ name: "body-limit", seed: limit }).onRequest(({ request }) => refuseDeclaredOver(request, limit));
