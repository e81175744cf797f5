import { Elysia } from "elysia";
import { refuseDeclaredOver } from "../../lib/body-cap";

/**
 * Refuses a declared body above `limit` bytes with a 413 in the OpenAI envelope. Bodies without
 * a content-length are bounded as they are read, before the app sees them (runtime/bounded-request.ts).
 */
export const bodyLimit = (limit: number) =>
  new Elysia({ name: "body-limit", seed: limit }).onRequest(({ request }) => refuseDeclaredOver(request, limit));
