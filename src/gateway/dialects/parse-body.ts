import type { z } from "zod";
import { toApiError } from "../../lib/to-api-error";

/** A request body checked against an API's schema: its data, or the first issue as the caller's 400. */
export function parseBody<S extends z.ZodType>(schema: S, json: unknown): z.output<S> {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw toApiError("VALIDATION", { type: "body", valueError: parsed.error.issues[0] });
  return parsed.data;
}
