import { errors } from "../lib/errors";

/** Bun's hard cap: above the configured limit so that the envelope of body-limit.ts answers first. */
export const hardBodyCap = (limit: number) => Math.max(limit * 4, 16 * 1024 * 1024);

/**
 * 413 in the OpenAI envelope for a declared body above `limit` bytes. Free of Elysia: the body
 * limit plugin and the chat route (which runs ahead of Elysia) share it.
 */
export function refuseDeclaredOver(request: Request, limit: number): void {
  if (Number(request.headers.get("content-length") ?? 0) > limit) throw errors.tooLarge(limit);
}
