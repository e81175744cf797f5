import { errors } from "./errors";

/** Bun's hard cap: above the configured limit so that the envelope of body-limit.ts answers first. */
export const hardBodyCap = (limit: number) => Math.max(limit * 4, 16 * 1024 * 1024);

/**
 * 413 in the OpenAI envelope for a declared body above `limit` bytes. Free of Elysia: the body
 * limit plugin and the chat route (which runs ahead of Elysia) share it.
 */
export function refuseDeclaredOver(request: Request, limit: number): void {
  if (Number(request.headers.get("content-length") ?? 0) > limit) throw errors.tooLarge(limit);
}

/**
 * Reads to its end, and drops, a request body nobody read: an answer given early (401 before the
 * body is looked at, 404, 413 on the declared length) would otherwise make Bun close the
 * connection while the body is still arriving, and a reverse proxy still sending it reports a
 * broken pipe and answers 502 instead of the envelope (nginx does). Bounded by Bun's hard cap.
 */
export async function discardUnread(request: Request): Promise<void> {
  if (request.bodyUsed || request.body === null) return;
  try {
    for await (const _ of request.body) {
      // dropped
    }
  } catch {
    // the client went away: nothing left to answer
  }
}
